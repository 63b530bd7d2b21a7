#!/bin/bash
# bench/powercut/run.sh - power cuts during upgrades on a qemu-arm-virt
# device (docs/upgrades.md, "Power cuts"): N times (default 100), a new
# release is pushed to the device from a local Studio, QEMU is killed at
# a random moment of the upgrade (SIGKILL to kos-tool run, which takes
# QEMU with it: the guest's page cache is lost, what it synced is on the
# disk image), and the disk is booted again. Each boot must come up in a
# generation that verifies, old or new, and link to Studio again. It
# prints where each cut landed, what booted, and the count. A trial, not a
# test: run it by hand after `cmake --build --preset dev`.
#
#   bench/powercut/run.sh [N]
#
# Releases alternate between two sizes of one app's binary (1 and 12 MB
# appended to rng_server's), so that cuts land in fetches, in the store's
# writes and after the switch.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${KOS_BUILD:-$ROOT/build/dev} # a copy of the build tree, to go on building meanwhile
N=${1:-100}
export KOS_TOOL=$B/bin/kos-tool KOS_SERVER=$B/bin/kos-server
export KOS_TRUST=$B/kos-keys/release.pub KOS_KEY=$B/kos-keys/release.key
COMP=$B/device-aarch64/components/bin
[ -x "$KOS_TOOL" ] && [ -x "$COMP/rng_server" ] ||
  { echo "build first: cmake --build --preset dev (with the device build)" >&2; exit 2; }
. "$ROOT/tests/system/studio_lib.sh"
QPID=
stop_qemu() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$QPID" 2>/dev/null || true
  fi
  QPID=
}
trap 'stop_qemu; cleanup' EXIT
export PATH=$PATH:/usr/sbin:/sbin

start_studio
cat >"$WORK/system.yaml" <<EOF
system: powercut
release: 1
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:10.0.2.100:$DEVICE_PORT"}
EOF
build_release() { # build_release N BYTES
  cp "$COMP/rng_server" "$WORK/rng"
  head -c "$2" /dev/urandom >>"$WORK/rng"
  sed -i "s/^release: .*/release: $1/" "$WORK/system.yaml"
  "$T" manifest.build "$WORK/system.yaml" -o "$WORK/r.zip" --key "$KOS_KEY" --bin-dir "$COMP" \
    --bin "rng_server=$WORK/rng" >"$WORK/build.txt" 2>&1 || { cat "$WORK/build.txt" >&2; exit 1; }
}
build_release 1 0
run 0 bootstrap "$WORK/r.zip" --platform qemu-arm-virt --out "$WORK/disk.img" \
  --trust "$KOS_TRUST" --server studio --name powercut-1
ID=$(api api/devices | python3 -c '
import json, sys
print(next(d["id"] for d in json.load(sys.stdin)["devices"] if d["name"] == "powercut-1"))')
boot_disk() {
  : >"$CON"
  "$T" run --platform qemu-arm-virt "$WORK/disk.img" </dev/null >"$CON" 2>&1 &
  QPID=$!
}
boot_disk
until_ok 300 "the device online" device_is state online

up=0 before=0 during=0 after=0
for i in $(seq "$N"); do
  release=$((i + 1))
  build_release "$release" $(((i % 2) ? 1000000 : 12000000))
  until_ok 300 "the device online before trial $i" device_is state online
  : >"$CON"
  curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/zip" \
    --data-binary "@$WORK/r.zip" "${URL}api/devices/$ID/upgrade" >/dev/null ||
    die "trial $i: the push was refused"
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  if in_console "stored as generation"; then when=after; after=$((after + 1))
  elif in_console "admin: info: command [0-9]+ from the server: upgrade"; then when=during; during=$((during + 1))
  else when=before; before=$((before + 1)); fi
  kill -KILL "$QPID"
  wait "$QPID" 2>/dev/null || true
  QPID=
  boot_disk
  until_ok 300 "trial $i: a verified generation booting" in_console "core: generation [0-9]+ of store .* verified"
  until_ok 300 "trial $i: the device online again" device_is state online
  gen=$(tr -d '\r' <"$CON" | grep -aoE 'core: generation [0-9]+ of store' | tail -1 | grep -oE '[0-9]+')
  sys=$(tr -d '\r' <"$CON" | grep -aoE "core: system 'powercut' ready" | head -1)
  [ -n "$sys" ] || until_ok 300 "trial $i: the system ready" in_console "core: system 'powercut' ready"
  up=$((up + 1))
  case $when in
    before) said="before the upgrade to release $release began" ;;
    during) said="during the upgrade to release $release" ;;
    *) said="after the store took release $release" ;;
  esac
  echo "trial $i: cut $said; generation $gen booted, verified, and linked again"
done
echo "powercut: $up of $N trials came up in a verified generation and linked again" \
  "(cuts before the upgrade began: $before, during it: $during, after the store took it: $after)"
