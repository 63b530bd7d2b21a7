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

# start_studio: starts a Studio on any free API port and a free device
# port; sets DEVICE_PORT, URL, SECRET.
start_studio() {
  DEVICE_PORT=$(free_port)
  run 0 server.start --port 0 --device-port "$DEVICE_PORT"
  URL=$(rt url)
  SECRET=$(rt secret)
}
