# kos-tool bootstrap --out /dev/XXX (docs/boards.md): onto loop devices this
# test makes on scratch files (losetup; detached whatever happens). Written
# directly, without mounting: the partition table and both partitions read
# back from the device; what it erases is shown (device, model, size, its
# partitions now). Refused, nothing written: no terminal and no --yes; a
# partition instead of the disk; a mounted disk (a scratch ext4 on a loop
# device, mounted here and unmounted after); the disk this machine runs from
# (found from / here; bootstrap must refuse it before writing a byte); a
# disk too small; --force. On a terminal (a pty): the question, answered no
# then yes, and the progress bar. Needs root and loop devices (skipped, 77,
# without them).
source "$(dirname "$0")/lib.sh"
needs losetup mount python3 python3
[ "$(id -u)" -eq 0 ] || skip "loop devices need root"
[ -e /dev/loop-control ] || skip "no loop devices here (/dev/loop-control)"

LOOPS=()
MNT=$WORK/mnt
cleanup() {
  mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
loop() { # loop VAR FILE MIB: VAR names a loop device on a new FILE of MIB MiB, of junk
  head -c $(($3 * 1024 * 1024)) /dev/zero | tr '\0' 'J' >"$2"
  local l
  l=$(losetup -f --show -P "$2") || skip "losetup -f failed: no free loop device"
  LOOPS+=("$l")
  printf -v "$1" %s "$l"
}
bs() { "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --trust "$KOS_TRUST" "$@"; }
# unchanged DEV SUM: the device's content hashes to SUM still.
unchanged() { [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$2" ] || fail "$1 was written"; }
sum() { sha256sum <"$1" | cut -d' ' -f1; }

loop L "$WORK/disk.raw" 160
S=$(sum "$L")

# No terminal to ask on, no --yes: refused after showing what it would erase.
bs --platform qemu-arm-virt --out "$L" </dev/null >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "no terminal, no --yes: status $RC, not 1"
expect "^kos-tool bootstrap: this erases the whole of $L:$"
expect "^  model: loop device on $WORK/disk.raw$"
expect "^  size: 160 MiB \(167772160 bytes\)$"
expect "^  \(none\)$"
expect "^kos-tool bootstrap: refusing to erase $L without asking, and there is no terminal to ask on: give --yes to erase it$"
unchanged "$L" "$S"
! ls /tmp | grep -q "^kos-bootstrap-" || true
bs --platform qemu-arm-virt --out "$L" --force >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 2 ] || fail "--force with a block device: status $RC, not 2"
expect "--force goes with a disk image; $L is a block device"

# With --yes: written, the table and the partitions read back from the device.
bs --platform qemu-arm-virt --out "$L" --yes >"$OUT" 2>&1 || fail "bootstrap onto $L failed"
expect "^wrote $L \(159 MiB\) for qemu-arm-virt: "
! grep -q $'[\r\033]' "$OUT" || fail "a progress line, though stdout is no terminal"
sfdisk -d "$L" >"$OUT"
expect "^$L""p?1 : start= *2048, size= *[0-9]+, type=c, bootable$"
expect "^$L""p?2 : start= *[0-9]+, size= *[0-9]+, type=83$"
part() { # part N OUTFILE: partition N of $L, read from the device
  local start size
  read -r start size < <(sfdisk -d "$L" | sed -n "s|^$L""p\{0,1\}$1 : start= *\([0-9]*\), size= *\([0-9]*\).*|\1 \2|p")
  dd if="$L" of="$2" bs=512 skip="$start" count="$size" status=none
}
part 1 "$WORK/boot.vfat"
part 2 "$WORK/data.ext4"
mdir -i "$WORK/boot.vfat" -b :: >"$OUT"
for f in Image initramfs.cpio.gz boot.scr boot.cmd; do expect "^::/$f$"; done
fsck.vfat -n "$WORK/boot.vfat" >/dev/null 2>&1 || fail "the boot partition on $L does not check"
# The old bytes are gone: e2fsck finds the file system whole (no junk in
# what the image had as zeros).
e2fsck -fn "$WORK/data.ext4" >"$OUT" 2>&1 || fail "the data partition on $L does not check"
debugfs -R "cat /store/state" "$WORK/data.ext4" 2>/dev/null | grep -q "^current 1$" ||
  fail "the store on $L has no generation 1"
# The kernel read the new table (BLKRRPART), when it has MBR partitions.
if grep -q " $(basename "$L")p1$" /proc/partitions; then
  blkid "$L""p2" | grep -q 'LABEL="kos-data"' || fail "the kernel's ${L}p2 is not kos-data"
else
  echo "NOTE: this kernel shows no partitions of $L (no MBR partition support?): BLKRRPART not checked" >&2
fi

# Its partitions now are shown the next time.
bs --platform qemu-arm-virt --out "$L" </dev/null >"$OUT" 2>&1 || true
grep -q "^  (none)$" "$OUT" && grep -q " $(basename "$L")p1$" /proc/partitions &&
  fail "the partitions now are not shown"

# A partition instead of the disk (when the kernel made them).
if [ -b "$L""p1" ]; then
  bs --platform qemu-arm-virt --out "$L""p1" --yes >"$OUT" 2>&1 && RC=0 || RC=$?
  [ "$RC" -eq 1 ] || fail "a partition: status $RC, not 1"
  expect "is a partition \(of $(basename "$L")\): give the whole disk, /dev/$(basename "$L")"
fi

# A mounted disk: a scratch ext4 on its own loop device, mounted.
loop M "$WORK/mounted.raw" 160
mkfs.ext4 -q -F "$M"
mkdir "$MNT"
# Mounting changes the file system's own blocks; its first KiB (before the
# superblock) and its last MiB stay as they are unless bootstrap writes.
first() { head -c 1024 "$1" | sha256sum; tail -c 1048576 "$1" | sha256sum; }
S=$(first "$M")
mount "$M" "$MNT" || skip "cannot mount a loop device here"
bs --platform qemu-arm-virt --out "$M" --yes >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "a mounted disk: status $RC, not 1"
expect "^kos-tool bootstrap: refusing to write $M: $M is mounted on $MNT: unmount it first; nothing was written$"
umount "$MNT"
[ "$(first "$M")" = "$S" ] || fail "the mounted $M was written"

# The disk this machine runs from: the one under /.
ROOTDEV=$(findmnt -no SOURCE / 2>/dev/null || true)
if [ -b "$ROOTDEV" ]; then
  PK=$(lsblk -no PKNAME "$ROOTDEV" 2>/dev/null | head -n1)
  ROOTDISK=/dev/${PK:-$(basename "$ROOTDEV")}
  [ -b "$ROOTDISK" ] || ROOTDISK=$ROOTDEV
  # Its first MiB, when this machine lets root read it (a container's
  # device rules may not: then the refusal is what is checked).
  HEAD=$( (head -c 1048576 "$ROOTDISK" 2>/dev/null || echo unreadable) | sha256sum)
  # Never with --yes, and with no terminal to answer on: should the check
  # ever fail, bootstrap still refuses (it does not ask), and this machine's
  # disk is never at stake in a test.
  bs --platform qemu-arm-virt --out "$ROOTDISK" </dev/null >"$OUT" 2>&1 && RC=0 || RC=$?
  [ "$RC" -eq 1 ] || fail "the host's disk $ROOTDISK: status $RC, not 1"
  expect "^kos-tool bootstrap: refusing to write $ROOTDISK: $ROOTDISK is the disk this machine runs from \(it holds / or /boot\); nothing was written$"
  [ "$( (head -c 1048576 "$ROOTDISK" 2>/dev/null || echo unreadable) | sha256sum)" = "$HEAD" ] ||
    fail "$ROOTDISK changed"
else
  echo "NOTE: / is not on a block device here ($ROOTDEV): the host disk refusal is not checked" >&2
fi

# A name in /dev that is no block device (a card not plugged in): refused,
# and no file made there.
bs --platform qemu-arm-virt --out /dev/kos-no-such-card --yes >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "a missing /dev/ name: status $RC, not 1"
expect "^kos-tool bootstrap: /dev/kos-no-such-card is not a block device \(is the card plugged in\?"
[ ! -e /dev/kos-no-such-card ] || fail "bootstrap made /dev/kos-no-such-card"

# Too small.
loop T "$WORK/small.raw" 40
S=$(sum "$T")
bs --platform qemu-arm-virt --out "$T" --yes >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "a disk too small: status $RC, not 1"
expect "^kos-tool bootstrap: $T \(40 MiB\) is too small: this system needs at least [0-9]+ MiB .*; nothing was written$"
unchanged "$T" "$S"

# On a terminal: the question (no: nothing written; yes: written) and the
# progress bar, which only a terminal gets.
onpty() { # onpty ANSWER CMD...: runs CMD on a pty, types ANSWER, output in $OUT
  python3 - "$@" >"$OUT" <<'PY'
import os, pty, sys
answer = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out, sent = b"", False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and b"Type yes" in out:
        os.write(fd, answer + b"\n")
        sent = True
sys.stdout.buffer.write(out)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
PY
}
mkdir "$WORK/fw"
head -c 100000 /dev/urandom >"$WORK/fw/start4.elf"
head -c 5000 /dev/urandom >"$WORK/fw/fixup4.dat"
U=()
[ -f "$(dirname "$KOS_DEVICE_IMAGE")/../../device-aarch64/device/rpi4/u-boot.bin" ] || {
  head -c 500000 /dev/urandom >"$WORK/u-boot.bin"
  U=(--u-boot "$WORK/u-boot.bin")
}
S=$(sum "$L")
onpty no "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --trust "$KOS_TRUST" --platform rpi4 \
  --out "$L" --boot-files "$WORK/fw" "${U[@]}" && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "answered no: status $RC, not 1"
expect "Type yes to erase $L: "
expect "$L was not erased \(the answer was not yes\)"
unchanged "$L" "$S"
onpty yes "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --trust "$KOS_TRUST" --platform rpi4 \
  --out "$L" --boot-files "$WORK/fw" "${U[@]}" || fail "answered yes: bootstrap failed"
! grep -q " $(basename "$L")p1$" /proc/partitions || expect "^  /dev/$(basename "$L")p1  42 MiB"
expect "wrote $L \(159 MiB\) for rpi4: "
grep -qE $'\r\033\[Kkos-tool bootstrap: \[6/6\] writing '"$L"' \[#*-*\] +[0-9]+% [0-9]+/[0-9]+ MiB' "$OUT" ||
  fail "no progress bar on the terminal"
grep -q '\[##############################\] 100% ' "$OUT" || fail "the progress bar did not reach 100%"
sfdisk -d "$L" >"$OUT"
expect "^$L""p?1 : start= *8192, size= *[0-9]+, type=c, bootable$"
echo "PASS"
