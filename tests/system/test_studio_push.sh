#!/bin/bash
# kos-tool push and kos-tool watch --device (docs/upgrades.md, "Pushing a
# release from Studio") against a Studio on loopback and devices written in
# Python (fake_device.py serve), which fetch the blobs the Upgrade names
# with ranged GETs, check their digests and report progress and a result:
# push prints the progress and the result and exits 0 only on success
# (1 for a device's failure, an unknown device, a bad image; 2 for a usage
# error); watch --device pushes each successful build and nothing for a
# failed one. Needs KOS_TOOL, KOS_SERVER, KOS_IMAGE.
source "$(dirname "$0")/studio_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE=${KOS_IMAGE:?}
FAKES=()
WATCH_PID=
end_all() {
  [ -z "$WATCH_PID" ] || kill -INT "$WATCH_PID" 2>/dev/null || true
  for p in "${FAKES[@]}"; do kill "$p" 2>/dev/null || true; done
  cleanup
}
trap end_all EXIT

# fake NAME [ARGS...]: a fake device NAME linked to the Studio.
fake() {
  local name=$1
  shift
  python3 "$HERE/fake_device.py" serve --data "$DATA" --name "$name" --ready "$WORK/$name.ready" "$@" \
    >"$WORK/$name.log" 2>&1 &
  FAKES+=($!)
  for _ in $(seq 300); do [ -s "$WORK/$name.ready" ] && return 0; sleep 0.1; done
  cat "$WORK/$name.log" >&2
  fail "fake device $name did not link"
}

start_studio
fake bench-1
fake bench-2 --fail "the image is not signed by a key this device trusts"

run 0 push bench-1 "$IMAGE"
expect out "^kos-tool push: pushed release [0-9]+ of 'restart' \(3 blobs, [0-9.]+ MiB\) to 'bench-1': command [0-9]+$"
expect out "^kos-tool push: 'bench-1': fetching: [0-9.]+ MiB of [0-9.]+ MiB \(3 blobs\)$"
expect out "^kos-tool push: 'bench-1': done: release [0-9]+ stored; rebooting$"
id1=$(cat "$WORK/bench-1.ready")
api "api/devices/$id1" | python3 -c '
import json, sys
u = json.load(sys.stdin)["upgrade"]
assert u["status"] == 0 and u["stage"] == "switching" and u["served"] >= u["bytes"], u' ||
  fail "the device's last upgrade after push"

run 1 push bench-2 "$IMAGE"
expect out "^kos-tool push: 'bench-2': failed: unauthorized: the image is not signed by a key this device trusts$"
run 1 push nobody "$IMAGE"
expect err "Studio knows no device 'nobody'"
run 1 push bench-1 "$HERE/fake_device.py"
expect err "Studio refused .*fake_device.py: cannot open the image: not a zip archive"
run 1 push bench-1 "$WORK/no-such.zip"
expect err "cannot read image .*no-such.zip"
run 2 push bench-1
expect err "give the DEVICE and the IMAGE"
run 2 push bench-1 "$IMAGE" --timeout 0
expect err "--timeout takes seconds from 1 to 86400"
run 0 push --help
expect out "usage: kos-tool push DEVICE IMAGE"

# watch --device: the first build and each change are pushed; a failed
# build pushes nothing.
run 2 watch "$WORK" --device bench-1 --target run
expect err "--target boots here, --device pushes"
cp -r "$HERE/push_project" "$WORK/proj"
cmake -S "$WORK/proj" -B "$WORK/proj/build" -DIMAGE="$IMAGE" >"$WORK/cmake.log" 2>&1 ||
  { cat "$WORK/cmake.log"; fail "configuring the project"; }
"$T" watch "$WORK/proj/build" --device bench-1 >"$WORK/watch.log" 2>&1 &
WATCH_PID=$!
wait_log() { # wait_log N REGEX: up to 60 s for N lines of watch's output matching REGEX
  for _ in $(seq 600); do [ "$(grep -cE -- "$2" "$WORK/watch.log")" -ge "$1" ] && return 0; sleep 0.1; done
  cat "$WORK/watch.log" >&2
  for f in "$WORK"/bench-*.log; do echo "--- ${f##*/}:" >&2; cat "$f" >&2; done
  fail "watch: not $1 lines matching '$2'"
}
wait_log 1 "^kos-tool watch: 'bench-1': done: release"
wait_log 1 "^kos-tool watch: pushed; waiting for changes"
echo 2 >"$WORK/proj/version.txt"
wait_log 2 "^kos-tool watch: 'bench-1': done: release"
wait_log 2 "^kos-tool watch: pushed; waiting for changes"
echo broken >"$WORK/proj/version.txt"
wait_log 1 "^kos-tool watch: the build failed; nothing pushed"
grep -q "version.txt:1: error: this version is broken" "$WORK/watch.log" || fail "watch: the build's errors not shown"
echo 3 >"$WORK/proj/version.txt"
wait_log 3 "^kos-tool watch: 'bench-1': done: release"
kill -INT "$WATCH_PID"
wait "$WATCH_PID" || fail "watch: exit status $? after Ctrl-C"
WATCH_PID=
[ "$(grep -c "^kos-tool watch: pushed release" "$WORK/watch.log")" -eq 3 ] ||
  { cat "$WORK/watch.log"; fail "watch: expected three pushes (the failed build pushes nothing)"; }
echo PASS
