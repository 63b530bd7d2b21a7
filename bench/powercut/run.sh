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
export KOS_DEVICE_COMPONENTS=$COMP
. "$ROOT/tests/device/qemu_studio.sh"

start_studio
bootstrap_device powercut powercut-1
boot_disk
until_ok 300 "the device online" device_is state online

up=0 before=0 during=0 after=0
for i in $(seq "$N"); do
  release=$((i + 1))
  build_release "$release" $(((i % 2) ? 1000000 : 12000000))
  until_ok 300 "the device online before trial $i" device_is state online
  : >"$CON"
  push "$WORK/r$release.zip"
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  when=$(cut_when)
  case $when in
    after*) after=$((after + 1)) ;;
    while*) during=$((during + 1)) ;;
    *) before=$((before + 1)) ;;
  esac
  cut_and_boot "trial $i"
  until_ok 300 "trial $i: the system ready" in_console "core: system 'powercut' ready"
  up=$((up + 1))
  rm -f "$WORK/r$release.zip" "$WORK/rng_server$release"
  echo "trial $i: cut $when (release $release); generation $(booted_gen) booted, verified, and linked again"
done
echo "powercut: $up of $N trials came up in a verified generation and linked again" \
  "(cuts before the upgrade began: $before, during it: $during, after the store took it: $after)"
