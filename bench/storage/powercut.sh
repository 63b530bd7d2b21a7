#!/bin/bash
# bench/storage/powercut.sh - cuts `kos-tool run --storage` off with SIGKILL
# at random instants while it stores a new image and boots it, N times
# (default 100), and checks after each cut that the store still boots a
# whole, verified generation: the old one or the new one, never neither
# (docs/storage.md). It is a trial, not a test: run it by hand.
#
#   bench/storage/powercut.sh [N]      (after cmake --build --preset dev)
#
# SIGKILL stops the writer at any instruction, but the kernel's page cache
# survives it; what a real power cut does to unsynced pages needs a device
# (or QEMU) and is not covered here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build/dev
T=$B/bin/kos-tool
N=${1:-100}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-powercut.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
S=$WORK/store
A=$B/examples/hello/hello_system.zip
Z=$B/examples/i2c_sensor/i2c_sensor.zip   # about 10 MB of blobs: the import takes a while
TRUST=$B/kos-keys/release.pub
[ -x "$T" ] && [ -f "$A" ] && [ -f "$Z" ] || { echo "build first: cmake --build --preset dev" >&2; exit 2; }

"$T" run --storage "$S" "$A" --trust "$TRUST" >/dev/null 2>&1 || { echo "cannot seed the store" >&2; exit 1; }
old=0 new=0 during_import=0
for i in $(seq "$N"); do
  # Alternate the image offered, so that every round stores something new.
  img=$Z; [ $((i % 2)) -eq 0 ] && img=$A
  "$T" run --storage "$S" "$img" --trust "$TRUST" --self-test-timeout 600000 >"$WORK/out" 2>&1 &
  pid=$!
  sleep "$(printf "0.%03d" $((RANDOM % 800 + 5)))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q "stored image\|current already" "$WORK/out" || during_import=$((during_import + 1))
  sleep 0.2 # the cut system's processes go with Core
  # The store must boot a verified generation now.
  timeout 60 "$T" run --storage "$S" --trust "$TRUST" >"$WORK/boot" 2>&1 &
  bpid=$!
  for _ in $(seq 100); do
    grep -qE "core: system '[a-z_]+' ready|system stopped" "$WORK/boot" && break
    sleep 0.1
  done
  kill -TERM "$bpid" 2>/dev/null || true
  wait "$bpid" 2>/dev/null || true
  if ! grep -qE "core: generation [0-9]+ of store .* verified" "$WORK/boot"; then
    echo "cut $i: the store does not boot:" >&2
    cat "$WORK/boot" >&2
    "$T" storage.show "$S" >&2 || true
    exit 1
  fi
  if grep -q "system 'i2c_sensor'" "$WORK/boot"; then new=$((new + 1)); else old=$((old + 1)); fi
done
echo "powercut: $N cuts ($during_import during the import), every one left a bootable store" \
  "(booted afterwards: hello $old, i2c_sensor $new)"
"$T" storage.show "$S"
