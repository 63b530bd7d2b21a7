# lib.sh - helpers for the device tests (qemu-arm-virt, the boards, armhf):
# a scratch folder, failing with the console shown, and skipping (status
# 77) when what the platform needs is not installed. Needs KOS_TOOL, KOS_TRUST, KOS_KEY and
# KOS_DEVICE_IMAGE in the environment (set by CTest, tests/device/device.cmake).
set -Eeuo pipefail
trap 'echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/console.txt
PATH=$PATH:/usr/sbin:/sbin

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$OUT" ]; then
    echo "--- output:" >&2
    cat "$OUT" >&2
  fi
  exit 1
}
skip() { echo "SKIP: $*" >&2; exit 77; }

# needs PROGRAM PACKAGE...: skip, naming the Debian package, when missing.
needs() {
  while [ $# -gt 1 ]; do
    command -v "$1" >/dev/null || skip "$1 is missing: install the Debian package $2 (scripts/install-deps.sh)"
    shift 2
  done
}
# A test of the armhf device build sets DEVICE_ARCH=armhf before sourcing this.
if [ "${DEVICE_ARCH:-aarch64}" = armhf ]; then
  [ "${KOS_HAVE_DEVICE_BUILD_ARMHF:-OFF}" = ON ] ||
    skip "no armhf device build: install gcc-arm-linux-gnueabihf and Core's armhf libraries (scripts/install-deps.sh) and configure again"
else
  [ "${KOS_HAVE_DEVICE_BUILD:-OFF}" = ON ] ||
    skip "no device build: install gcc-aarch64-linux-gnu (scripts/install-deps.sh) and configure again"
fi
needs sfdisk fdisk mkfs.vfat dosfstools mcopy mtools mdir mtools mkimage u-boot-tools \
  dumpimage u-boot-tools mkfs.ext4 e2fsprogs debugfs e2fsprogs
[ "${DEVICE_ARCH:-aarch64}" = armhf ] || [ -f "$KOS_DEVICE_IMAGE" ] ||
  fail "the aarch64 hello image $KOS_DEVICE_IMAGE was not built"

# expect REGEX: some line of $OUT matches.
expect() { grep -qE -- "$1" "$OUT" || fail "expected a line matching: $1"; }
# line_of REGEX: the number of the first line of $OUT matching, or fail.
line_of() {
  local n
  n=$({ grep -nE -- "$1" "$OUT" || true; } | head -n1 | cut -d: -f1)
  [ -n "$n" ] || fail "expected a line matching: $1"
  echo "$n"
}

# The timestamp that starts each of KOS's console lines.
TS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'

# What Core and kos-init say of examples/hello's boot, from the store's
# verification to the power-off, in this order (device_boot, device_armhf):
# a cgroup per app, the system ready, generation 1 made good, the app's line.
HELLO_LINES=(
  "$TS core: generation 1 of store /data/store verified: signed by release key [0-9a-f]{16}$"
  "$TS core: sandbox: .*; limits: a cgroup per app in /sys/fs/cgroup \(memory.max, pids.max\) and rlimits$"
  "$TS core: booting system 'hello'"
  "$TS core: system 'hello' ready: 2 processes"
  "$TS core: boot store: generation 1 passed its self test: it is the good one now$"
  "$TS hello: info: Hello from KOS \(I am 'hello'\)$"
  "$TS core: system stopped \(exit status 0\)$"
  "$TS kos-init: the system has ended; powering off$"
)

# in_order REGEX...: $OUT has a line matching each, in this order.
in_order() {
  local prev=0 n re
  for re in "$@"; do
    n=$(line_of "$re")
    [ "$n" -gt "$prev" ] || fail "'$re' (line $n) came before the line expected before it (line $prev)"
    prev=$n
  done
}

# boot_virt IMAGE: bootstraps IMAGE for qemu-arm-virt into $D and boots it
# once with kos-tool run (skipping when QEMU or its U-Boot is missing),
# its console in $OUT with the guest's CR LF made LF; RC is kos-tool run's
# status. Failing if it did not power off within 300 s; nothing else is
# timed.
boot_virt() {
  local start
  needs qemu-system-aarch64 qemu-system-arm
  [ -r /usr/lib/u-boot/qemu_arm64/u-boot.bin ] ||
    skip "U-Boot for QEMU is missing: install the Debian package u-boot-qemu (scripts/install-deps.sh)"
  D=$WORK/disk.img
  "$KOS_TOOL" bootstrap "$1" --platform qemu-arm-virt --out "$D" \
    --trust "$KOS_TRUST" >"$OUT" 2>&1 || fail "bootstrap failed"
  start=$(date +%s)
  timeout 300 "$KOS_TOOL" run --platform qemu-arm-virt "$D" </dev/null >"$OUT" 2>&1 && RC=0 || RC=$?
  echo "booted and powered off in $(($(date +%s) - start)) s (not asserted)"
  [ "$RC" -ne 124 ] || fail "the device did not power off within 300 s"
  sed -i 's/\r$//' "$OUT"
}
