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
