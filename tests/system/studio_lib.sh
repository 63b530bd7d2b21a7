# studio_lib.sh - helpers for the Studio server's system tests: a scratch
# data folder (XDG_DATA_HOME points into the test's own folder, so kos-tool
# and kos-server find nothing of the user's), free loopback ports, running
# kos-tool, and a server stopped at the end whatever happens. Sourced by
# test_studio_*.sh; needs KOS_TOOL and KOS_SERVER in the environment.
set -euo pipefail

T=${KOS_TOOL:?}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-studio.XXXXXX")
export XDG_DATA_HOME=$WORK/xdg
DATA=$XDG_DATA_HOME/kos/studio

# stop_all: every kos-server this test started (whose runtime file is under
# WORK) is asked to stop, then killed.
stop_all() {
  local f pid
  for f in $(find "$WORK" -name studio.run 2>/dev/null); do
    pid=$(awk '$1 == "pid" { print $2 }' "$f")
    [ -n "$pid" ] || continue
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = kos-server ]; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK/out" "$WORK/err"; do
    [ -s "$f" ] && { echo "--- ${f##*/}:" >&2; cat "$f" >&2; }
  done
  [ -s "$DATA/server.log" ] && { echo "--- server.log:" >&2; tail -20 "$DATA/server.log" >&2; }
  exit 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run STATUS ARGS...: runs kos-tool, stdout in $WORK/out, stderr in $WORK/err.
run() {
  local want=$1 rc=0
  shift
  "$T" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "kos-tool $*: exit status $rc, expected $want"
}

# expect FILE REGEX: $WORK/FILE (out or err) has a line matching REGEX.
expect() {
  grep -Eq -- "$2" "$WORK/$1" || fail "no line matching '$2' in $1"
}

# rt KEY: a value of the runtime file in $DATA.
rt() { awk -v k="$1" '$1 == k { print $2 }' "$DATA/studio.run"; }

# mode FILE: its permission bits in octal.
mode() { stat -c %a "$1"; }

# start_studio [ARGS...]: starts a Studio on any free API port and any free
# device port (the server picks them: a port probed free before could be
# taken by the time it listens), with ARGS for server.start; sets
# DEVICE_PORT, URL, SECRET.
start_studio() {
  run 0 server.start --port 0 --device-port 0 "$@"
  URL=$(rt url)
  SECRET=$(rt secret)
  DEVICE_PORT=$(rt device)
  DEVICE_PORT=${DEVICE_PORT##*:}
}

# ---- a device on sim linked to the Studio (test_studio_device.sh,
# test_studio_trace.sh, test_studio_shell.sh). Needs KOS_TRUST, KOS_KEY and KOS_T_APP too.

DEV_PID=
CON=$WORK/console.txt

# stop_device: the device's system asked to stop, then killed.
stop_device() {
  if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -TERM "$DEV_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DEV_PID" 2>/dev/null || true
  fi
  DEV_PID=
}
show_device() { [ -s "$CON" ] && { echo "--- device console (last 40 lines):" >&2; tail -40 "$CON" >&2; }; }
die() { show_device; fail "$@"; }

api() { curl -sf -H "Authorization: Bearer $SECRET" "$URL$1"; }
# api_post PATH JSON: POSTs JSON to the API; its answer on stdout.
api_post() { curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/json" -d "$2" "$URL$1"; }
# until_ok SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds.
until_ok() {
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "not within $secs s: $what"
}
# device_is FIELD VALUE: the API's record of the device has FIELD = VALUE.
device_is() {
  api "api/devices/$ID" | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if str(d.get(sys.argv[1])) == sys.argv[2] else 1)' "$1" "$2"
}
in_console() { grep -qE -- "$1" "$CON"; }

# provision_device NAME: a bundle in $WORK/dev registered with the running
# Studio as NAME; sets ID.
provision_device() {
  run 0 keys.generate --device --out "$WORK/dev" --trust "${KOS_TRUST:?}" --server studio --name "$1"
  ID=$(sed -nE 's/.*\(device id ([0-9a-f]{64})\).*/\1/p' "$WORK/out")
  [ -n "$ID" ] || fail "no device id in keys.generate's output"
}

# build_system IMAGE SYSTEM APPS [YAML...]: builds a Poukai system SYSTEM
# into IMAGE whose ethernet lets the tunnel reach the Studio, with the app
# entries APPS (YAML, indented by two spaces, t_app as their binary); each
# YAML argument is one more line after `system:` (e.g. "profile:
# development"), and ADMIN_CONFIG, when set, is admin's config: (a flow
# mapping). The build's output is in $WORK/build.txt.
build_system() {
  local image=$1 system=$2 apps=$3 extra admin=
  shift 3
  extra=$(printf '%s\n' "$@")
  [ -z "${ADMIN_CONFIG:-}" ] || admin=$(printf '  admin:\n    config: %s' "$ADMIN_CONFIG")
  cat >"$WORK/system.yaml" <<YAML
system: $system
$extra
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:127.0.0.1:$DEVICE_PORT"}
$admin
$apps
YAML
  "$T" manifest.build "$WORK/system.yaml" -o "$image" --key "${KOS_KEY:?}" \
    --bin "t_app=${KOS_T_APP:?}" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build the device's system"; }
}

# boot_device IMAGE: runs it on sim with the bundle in the background
# (DEV_PID; console in CON, emptied first; state in $WORK/state).
boot_device() {
  : >"$CON"
  "$T" run "$1" --trust "$KOS_TRUST" --keys "$WORK/dev" --state-dir "$WORK/state" \
    --console "$CON" >/dev/null 2>&1 &
  DEV_PID=$!
}

# start_device NAME SYSTEM APPS: starts a Studio, provisions device NAME
# for it (ID), builds SYSTEM with APPS (build_system), boots it and waits
# until the server shows it online.
start_device() {
  start_studio
  provision_device "$1"
  build_system "$WORK/device.zip" "$2" "$3"
  boot_device "$WORK/device.zip"
  until_ok 60 "the device shown online" device_is state online
}

# wait_online APP: the device online in Studio, registered, and its health
# in, with APP among its apps.
wait_online() {
  until_ok 60 "the device shown online" device_is state online
  until_ok 30 "admin saying it registered" in_console "admin: info: registered with the server as "
  until_ok 30 "the device's health with its apps" \
    sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | grep -q '\"$1\"'"
}

# ---- a device booting from a boot store (test_studio_storage.sh,
# test_upgrade_sim.sh): the store is $S.

# store_device: the device stopped at the end too; S, and APPS, a ticking
# app for build_system.
store_device() {
  trap 'stop_device; cleanup' EXIT
  S=$WORK/store
  APPS='  ticker:
    binary: t_app
    args: [tick, "500"]
    memory: 8MiB'
}
# boot_store [IMAGE] [options]: the device booted from the store $S.
boot_store() {
  : >"$CON"
  "$T" run --storage "$S" "$@" --trust "$KOS_TRUST" --keys "$WORK/dev" --console "$CON" \
    >/dev/null 2>&1 &
  DEV_PID=$!
}
# gens: the API's generations, one line: "running N; N rRELEASE[+OVERLAY] MARKS STATE TRIES; ..."
# (MARKS current,good,running or -), or "none" without a store.
gens() {
  api "api/devices/$ID" | python3 -c '
import json, sys
h = json.load(sys.stdin).get("health") or {}
s = h.get("store")
if s is None:
    print("none" if "store" in h else "no health")
    sys.exit()
out = ["running %d" % s["running"]]
for g in s["generations"]:
    marks = ",".join(m for m in ("current", "good", "running") if g[m]) or "-"
    rel = "%d+%d" % (g["release"], g["overlay"]) if g.get("overlay") else "%d" % g["release"]
    out.append("%d r%s %s %s %d" % (g["number"], rel, marks, g["state"], g["tries"]))
print("; ".join(out))'
}
gens_are() { [ "$(gens)" = "$1" ]; }
wait_gens() { until_ok 60 "the API showing generations '$1' (last: '$(gens)')" gens_are "$1"; }
