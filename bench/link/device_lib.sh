# bench/link/device_lib.sh - a Studio and a real device on sim linked to it,
# for cmd_rtt.sh and log_rate.sh (sourced; set -euo pipefail is theirs).
# As tests/system/studio_lib.sh does for the tests: a scratch folder WORK
# (XDG_DATA_HOME inside it, so kos-tool and kos-server find nothing of the
# user's), a Studio on free loopback ports, a device key bundle registered
# with it, a Poukai system built to reach it, booted with `kos-tool run`;
# everything started is stopped and WORK removed at the end, whatever
# happens. Needs `build` (the build folder) set by the sourcing script.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tool=$build/bin/kos-tool
trust=$build/kos-keys/release.pub
release_key=$build/kos-keys/release.key
for f in "$tool" "$trust" "$release_key"; do
  [ -e "$f" ] || { echo "${0##*/}: $f is missing (build with cmake --build --preset dev)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-bench-device.XXXXXX")
export XDG_DATA_HOME=$WORK/xdg
DATA=$XDG_DATA_HOME/kos/studio
CON=$WORK/console.txt
dev_pid=""
started=()

stop_device() {
  if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dev_pid" 2>/dev/null || true
  fi
  dev_pid=""
}
cleanup() {
  local i p
  stop_device
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do # the last started first
    p=${started[i]}
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -e "$DATA/studio.run" ] && "$tool" server.stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "${0##*/}: $*" >&2
  [ -s "$CON" ] && { echo "--- device console (last 20 lines):" >&2; tail -20 "$CON" >&2; }
  exit 1
}

rt() { awk -v k="$1" '$1 == k { print $2 }' "$DATA/studio.run"; }
api() { curl -sf -H "Authorization: Bearer $SECRET" "$URL$1"; }

# start_studio: a Studio on a free API port and a free device port; sets
# DEVICE_PORT, URL, SECRET, SPID.
start_studio() {
  DEVICE_PORT=$(free_port)
  "$tool" server.start --port 0 --device-port "$DEVICE_PORT" >"$WORK/studio.txt" 2>&1 ||
    { cat "$WORK/studio.txt" >&2; die "cannot start a Studio"; }
  URL=$(rt url)
  SECRET=$(rt secret)
  SPID=$(rt pid)
}

# start_device NAME APPS [BIN=PATH...]: a bundle registered as NAME (ID),
# a Poukai system with the app entries APPS (YAML indented by two spaces)
# whose ethernet lets the tunnel reach the Studio, booted on sim; returns
# once the device has registered. BEFORE_BOOT, when set, is a command run
# just before the boot (ID is known by then).
start_device() {
  local name=$1 apps=$2 bins=() b
  shift 2
  for b in "$@"; do bins+=(--bin "$b"); done
  "$tool" keys.generate --device --out "$WORK/dev" --trust "$trust" --server studio \
    --name "$name" >"$WORK/keys.txt" 2>&1 || { cat "$WORK/keys.txt" >&2; die "keys.generate failed"; }
  ID=$(sed -nE 's/.*\(device id ([0-9a-f]{64})\).*/\1/p' "$WORK/keys.txt")
  [ -n "$ID" ] || die "no device id in keys.generate's output"
  cat >"$WORK/system.yaml" <<YAML
system: bench_$name
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:127.0.0.1:$DEVICE_PORT"}
$apps
YAML
  "$tool" manifest.build "$WORK/system.yaml" -o "$WORK/device.zip" --key "$release_key" \
    "${bins[@]}" >"$WORK/build.txt" 2>&1 || { cat "$WORK/build.txt" >&2; die "cannot build the device's system"; }
  [ -z "${BEFORE_BOOT:-}" ] || "$BEFORE_BOOT"
  : >"$CON"
  "$tool" run "$WORK/device.zip" --trust "$trust" --keys "$WORK/dev" --state-dir "$WORK/state" \
    --console "$CON" >/dev/null 2>&1 &
  dev_pid=$!
  for _ in $(seq 300); do
    grep -q "admin: info: registered with the server as '$name'" "$CON" && return 0
    kill -0 "$dev_pid" 2>/dev/null || die "the device stopped"
    sleep 0.2
  done
  die "the device did not register within 60 s"
}
