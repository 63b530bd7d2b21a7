#!/bin/bash
# bench/upgrade/run.sh - what an upgrade over the link costs
# (docs/upgrades.md), on sim against a local Studio, each against a peer in
# the same run:
#
#   bytes   the bytes the device fetched for a release in which one app's
#           binary changed, against that binary's size (target <= 1.1x);
#   time    from the upgrade's start on the device (admin's "checking"
#           line) to Core's "stored as generation" (every missing blob
#           fetched over TLS, written, synced, checked, the image verified
#           whole, the record and state written), against copying the
#           same blobs with cp and then sync.
#
# For each size of the changed app (SIZES, bytes appended to a real
# example binary, examples/i2c_sensor's temp_sensor), ROUNDS releases are
# pushed; the medians are printed. A benchmark, not a test: run it by hand
# after `cmake --build --preset dev`.
#
#   bench/upgrade/run.sh [ROUNDS]       (SIZES="0 4000000 32000000" by default)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${KOS_BUILD:-$ROOT/build/dev} # a copy of the build tree, to go on building meanwhile
ROUNDS=${1:-5}
SIZES=${SIZES:-0 4000000 32000000}
export KOS_TOOL=$B/bin/kos-tool KOS_SERVER=$B/bin/kos-server
export KOS_TRUST=$B/kos-keys/release.pub KOS_KEY=$B/kos-keys/release.key
APP=$B/examples/i2c_sensor/temp_sensor
[ -x "$KOS_TOOL" ] && [ -x "$APP" ] || { echo "build first: cmake --build --preset dev" >&2; exit 2; }
export KOS_T_APP=$APP
. "$ROOT/tests/system/studio_lib.sh"
trap 'stop_device; cleanup' EXIT
S=$WORK/store
APPS='  sensor:
    binary: t_app
    memory: 64MiB'

ms_of() { # ms_of LINE: the line's timestamp in ms
  python3 -c 'import sys, datetime; t = sys.argv[1].split()[0].rstrip("Z"); print(int(datetime.datetime.fromisoformat(t[:26]).timestamp() * 1000))' "$1"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

start_studio
provision_device bench-upgrade
build_system "$WORK/r1.zip" upgrade_bench "$APPS" "release: 1"
boot_store "$WORK/r1.zip"
until_ok 120 "the device online" device_is state online
release=1
printf '%-12s %-14s %-12s %-8s %-14s %-14s %s\n' "app bytes" "fetched bytes" "ratio" "" "upgrade ms" "cp+sync ms" "ratio"
for extra in $SIZES; do
  : >"$WORK/res"
  for r in $(seq "$ROUNDS"); do
    release=$((release + 1))
    cp "$APP" "$WORK/app"
    head -c "$extra" /dev/urandom >>"$WORK/app"
    printf '%08d' "$release" >>"$WORK/app" # every release's binary differs
    KOS_T_APP=$WORK/app build_system "$WORK/r.zip" upgrade_bench "$APPS" "release: $release"
    until_ok 120 "the device online" device_is state online
    : >"$CON"
    curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/zip" \
      --data-binary "@$WORK/r.zip" "${URL}api/devices/$ID/upgrade" >/dev/null
    until_ok 300 "release $release stored" in_console "core: upgrade: the image is verified and stored"
    start=$(grep -E "admin: info: command [0-9]+ from the server: upgrade to release $release" "$CON" | head -1)
    stored=$(grep -E "core: upgrade: the image is verified and stored" "$CON" | head -1)
    until_ok 60 "admin's result" sh -c "grep -qE 'admin: info: command [0-9]+: release $release: .* bytes fetched' '$CON'"
    fetched=$(grep -oE "release $release: .*; [0-9]+ bytes fetched" "$CON" | grep -oE '[0-9]+ bytes fetched' | grep -oE '[0-9]+')
    up_ms=$(($(ms_of "$stored") - $(ms_of "$start")))
    # The peer: the same blobs the device fetched, copied and synced.
    M=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("image.sig").decode().split("\n")[1].split()[1])' "$WORK/r.zip")
    mkdir -p "$WORK/peer" && rm -rf "$WORK/peer/"* "$WORK/copy" && mkdir -p "$WORK/copy"
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[3], "wb").write(z.read("blobs/" + sys.argv[2]))' "$WORK/r.zip" "$M" "$WORK/peer/manifest"
    cp "$WORK/app" "$WORK/peer/app"
    sync
    t0=$(date +%s%N)
    cp "$WORK/peer/manifest" "$WORK/peer/app" "$WORK/copy/" && sync
    cp_ms=$((($(date +%s%N) - t0) / 1000000))
    echo "$(stat -c %s "$WORK/app") $fetched $up_ms $cp_ms" >>"$WORK/res"
  done
  app=$(awk '{ print $1 }' "$WORK/res" | median)
  fet=$(awk '{ print $2 }' "$WORK/res" | median)
  up=$(awk '{ print $3 }' "$WORK/res" | median)
  cpm=$(awk '{ print $4 }' "$WORK/res" | median)
  printf '%-12s %-14s %-12s %-8s %-14s %-14s %s\n' "$app" "$fet" \
    "$(python3 -c "print('%.3f' % ($fet / $app))")" "" "$up" "$cpm" \
    "$(python3 -c "print('%.1f' % ($up / max($cpm, 1)))")"
done
echo "medians of $ROUNDS upgrades per size; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
