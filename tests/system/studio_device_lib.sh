# studio_device_lib.sh - a device for the Studio's system tests: provisioned
# with keys.generate --server studio, a Poukai system on sim built for it
# (its tunnel allowed to the Studio's device port, a ticker app), booted with
# its bundle in the background, and helpers to wait for what it and the
# server say. Sourced after studio_lib.sh (and its start_studio) by
# test_studio_device.sh and test_studio_shell.sh.
# Environment: KOS_TRUST and KOS_KEY (a release key pair), KOS_T_APP
# (tests/system/t_app).
TRUST=${KOS_TRUST:?} KEY=${KOS_KEY:?} TAPP=${KOS_T_APP:?}
DEV_PID=
CON=$WORK/console.txt

stop_device() {
  if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -TERM "$DEV_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DEV_PID" 2>/dev/null || true
  fi
  DEV_PID=
}
trap 'stop_device; cleanup' EXIT
show_device() { [ -s "$CON" ] && { echo "--- device console (last 40 lines):" >&2; tail -40 "$CON" >&2; }; }
die() { show_device; fail "$@"; }

api() { curl -sf -H "Authorization: Bearer $SECRET" "$URL$1"; }
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
  run 0 keys.generate --device --out "$WORK/dev" --trust "$TRUST" --server studio --name "$1"
  ID=$(sed -nE 's/.*\(device id ([0-9a-f]{64})\).*/\1/p' "$WORK/out")
  [ -n "$ID" ] || fail "no device id in keys.generate's output"
}

# build_device IMAGE [YAML...]: builds a Poukai system for the device into
# IMAGE, with a ticker app; each YAML argument is one more line of the
# manifest after `system:` (e.g. "profile: development"), and
# ADMIN_CONFIG, when set, is admin's config: (a flow mapping).
build_device() {
  local image=$1 extra admin=
  shift
  extra=$(printf '%s\n' "$@")
  [ -z "${ADMIN_CONFIG:-}" ] || admin=$(printf '  admin:\n    config: %s' "$ADMIN_CONFIG")
  cat >"$WORK/system.yaml" <<EOF
system: studio_device
$extra
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:127.0.0.1:$DEVICE_PORT"}
$admin
  ticker:
    binary: t_app
    args: [tick, "200"]
    memory: 8MiB
EOF
  "$T" manifest.build "$WORK/system.yaml" -o "$image" --key "$KEY" --bin "t_app=$TAPP" \
    >"$WORK/build.txt" 2>&1 || { cat "$WORK/build.txt" >&2; fail "cannot build the device's system"; }
}

# start_device IMAGE: boots it with the bundle in the background (console
# in $CON, state in $WORK/state); sets DEV_PID.
start_device() {
  : >"$CON"
  "$T" run "$1" --trust "$TRUST" --keys "$WORK/dev" --state-dir "$WORK/state" \
    --console "$CON" >/dev/null 2>&1 &
  DEV_PID=$!
}

# wait_online: the device online in Studio, registered, its health in.
wait_online() {
  until_ok 60 "the device shown online" device_is state online
  until_ok 30 "admin saying it registered" in_console "admin: info: registered with the server as "
  until_ok 30 "the device's health with its apps" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | grep -q '\"ticker\"'"
}
