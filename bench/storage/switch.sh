#!/bin/bash
# bench/storage/switch.sh - an upgrade's write-and-switch into a boot store
# (kos-tool storage.import: verify the image, write the blobs the store
# lacks with fsync, the record, the state, each synced and renamed) against
# copying the same bytes with cp and sync, in the same run, alternating,
# RUNS times (default 5). The image is examples/i2c_sensor (about 10 MB of
# blobs), stored into a store that holds examples/hello, so every blob but
# none of hello's is new. Prints each side's median and the ratio.
#
#   bench/storage/switch.sh [RUNS]      (after cmake --build --preset dev)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build/dev
T=$B/bin/kos-tool
RUNS=${1:-5}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-switch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
TRUST=$B/kos-keys/release.pub
A=$B/examples/hello/hello_system.zip
Z=$B/examples/i2c_sensor/i2c_sensor.zip
[ -x "$T" ] && [ -f "$Z" ] || { echo "build first: cmake --build --preset dev" >&2; exit 2; }
mkdir "$WORK/src" && (cd "$WORK/src" && unzip -q "$Z")
bytes=$(du -cb "$WORK"/src/blobs/* | tail -1 | cut -f1)

now() { date +%s%N; }
kos=() cpy=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/store" "$WORK/copy"
  "$T" storage.import "$WORK/store" "$A" --trust "$TRUST" >/dev/null
  sync
  t0=$(now)
  "$T" storage.import "$WORK/store" "$Z" --trust "$TRUST" >/dev/null
  t1=$(now)
  kos+=($(((t1 - t0) / 1000)))
  mkdir "$WORK/copy"
  sync
  t0=$(now)
  cp "$WORK"/src/blobs/* "$WORK/copy/" && sync
  t1=$(now)
  cpy+=($(((t1 - t0) / 1000)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mk=$(median "${kos[@]}")
mc=$(median "${cpy[@]}")
echo "switch: $bytes bytes of blobs, $RUNS runs"
echo "switch: storage.import (verify, write, fsync, switch) median ${mk} us: ${kos[*]}"
echo "switch: cp + sync of the same bytes           median ${mc} us: ${cpy[*]}"
awk -v k="$mk" -v c="$mc" 'BEGIN { printf "switch: KOS / (cp + sync) = %.2f\n", k / c }'
