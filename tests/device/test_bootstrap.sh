# kos-tool bootstrap for qemu-arm-virt (docs/boards.md), without booting:
# the disk has an MBR with a bootable FAT partition (Image,
# initramfs.cpio.gz, boot.scr and its source boot.cmd) and an ext4 data
# partition labelled kos-data (the boot store with the image as generation
# 1 and current, the trusted key by its id, the device's key bundle); the
# boot script is a U-Boot script that loads both files and boots with
# kos.data=/dev/vda2; the initramfs holds /init, the modules in load order
# and the shared libraries kos-init and every component need (the tunnel's
# OpenSSL, libevent and wslay), nothing of the system. Refused, with a clear error
# and nothing written: an existing --out (replaced with --force), an image
# that does not verify, a size too small, a bad key bundle, options that do
# not go together, an unknown board, a missing tool (named with its package); SIGTERM stops
# it, leaving nothing; kos-tool run --platform qemu-arm-virt refuses a system
# image and sim's options.
source "$(dirname "$0")/lib.sh"
needs cpio cpio

D=$WORK/disk.img
"$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$D" \
  --trust "$KOS_TRUST" --size 96 >"$OUT" 2>&1 || fail "bootstrap failed"
expect "^wrote $D \(96 MiB\)"
expect "generation 1"
[ "$(stat -c %s "$D")" -eq $((96 * 1024 * 1024)) ] || fail "the disk is not 96 MiB"

# The partition table: FAT (type c) bootable at 1 MiB, then Linux (83).
sfdisk -d "$D" >"$OUT"
expect "^$D""1 : start= *2048, size= *[0-9]+, type=c, bootable$"
expect "^$D""2 : start= *[0-9]+, size= *[0-9]+, type=83$"
part() { # part N OUTFILE: copies partition N out of the disk
  local start size
  read -r start size < <(sfdisk -d "$D" | sed -n "s|^$D$1 : start= *\([0-9]*\), size= *\([0-9]*\).*|\1 \2|p")
  dd if="$D" of="$2" bs=512 skip="$start" count="$size" status=none
}
part 1 "$WORK/boot.vfat"
part 2 "$WORK/data.ext4"

# The boot partition's files.
mdir -i "$WORK/boot.vfat" -b :: >"$OUT"
for f in Image initramfs.cpio.gz boot.scr boot.cmd; do expect "^::/$f$"; done
mcopy -i "$WORK/boot.vfat" ::boot.scr ::boot.cmd ::initramfs.cpio.gz "$WORK/"
dumpimage -l "$WORK/boot.scr" >"$OUT"
expect "Image Type: +AArch64 Linux Script"
# The script's commands, as U-Boot runs them (the source is beside it).
cp "$WORK/boot.cmd" "$OUT"
expect '^setenv bootargs "console=ttyAMA0 kos.data=/dev/vda2 kos.net=10.0.2.15/24,10.0.2.2 '
expect '^load \$\{devtype\} \$\{devnum\}:\$\{distro_bootpart\} \$\{kernel_addr_r\} Image$'
expect '^load .* \$\{ramdisk_addr_r\} initramfs.cpio.gz$'
expect '^booti \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{filesize\} \$\{fdtcontroladdr\}$'
grep -qF "booti" "$WORK/boot.scr" || fail "boot.scr does not hold the script's commands"

# The initramfs: /init (an aarch64 program), the modules in load order, the
# libraries of kos-init and of the components (the tunnel's among them,
# which the apps' sandboxes are built from); no app, no message server.
zcat "$WORK/initramfs.cpio.gz" | cpio -t --quiet >"$OUT"
expect "^init$"
expect "^lib/modules/kos/virtio_blk.ko$"
expect "^lib/modules/kos/ext4.ko$"
expect "^lib/modules/kos/virtio_net.ko$"
expect "^lib/modules/kos/order$"
expect "^lib/ld-linux-aarch64.so.1$"
for lib in libc.so.6 libm.so.6 libssl.so.3 libcrypto.so.3 libevent_core-2.1.so.7 \
  libevent_openssl-2.1.so.7 libwslay.so.1; do
  expect "^lib/aarch64-linux-gnu/$lib$"
done
! grep -qE "(^|/)(hello|msg0)$" "$OUT" || fail "the initramfs holds a system binary"
mkdir "$WORK/ramfs"
(cd "$WORK/ramfs" && zcat "$WORK/initramfs.cpio.gz" | cpio -id --quiet)
file -b "$WORK/ramfs/init" 2>/dev/null | grep -q "ARM aarch64" ||
  readelf -h "$WORK/ramfs/init" | grep -q "AArch64" || fail "/init is not an aarch64 program"
cp "$WORK/ramfs/lib/modules/kos/order" "$OUT"
[ "$(grep -n '^virtio_pci$' "$OUT" | cut -d: -f1)" -lt "$(grep -n '^virtio_blk$' "$OUT" | cut -d: -f1)" ] &&
  [ "$(grep -n '^jbd2$' "$OUT" | cut -d: -f1)" -lt "$(grep -n '^ext4$' "$OUT" | cut -d: -f1)" ] ||
  fail "the modules are not in dependency order"

# The data partition.
dumpe2fs -h "$WORK/data.ext4" 2>/dev/null | grep -qE "^Filesystem volume name: +kos-data$" ||
  fail "the data partition is not labelled kos-data"
ID=$(debugfs -R "ls -p /trust" "$WORK/data.ext4" 2>/dev/null | awk -F/ '$6 ~ /\.pub$/ {print $6}')
[ -n "$ID" ] || fail "no trusted key in /trust"
debugfs -R "cat /trust/$ID" "$WORK/data.ext4" 2>/dev/null | cmp -s - "$KOS_TRUST" ||
  fail "/trust/$ID is not the --trust key"
debugfs -R "cat /store/state" "$WORK/data.ext4" 2>/dev/null >"$OUT"
expect "^current 1$"
debugfs -R "cat /keys/bundle.txt" "$WORK/data.ext4" 2>/dev/null >"$OUT"
expect "^identity ed25519 identity.key identity.pub [0-9a-f]{16}$"
expect "^trusted_0 ed25519 - trusted/${ID%.pub}.pub ${ID%.pub}$"
debugfs -R "stat /keys/identity.key" "$WORK/data.ext4" 2>/dev/null >"$OUT"
expect "Mode: +0600"

# Refusals. An existing --out, unless --force.
cp "$D" "$WORK/before.img"
"$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$D" \
  --trust "$KOS_TRUST" >"$OUT" 2>&1 && RC=0 || RC=$?
[ "$RC" -eq 1 ] || fail "an existing --out: status $RC, not 1"
expect "^kos-tool bootstrap: $D exists: give another --out, or --force to replace it$"
cmp -s "$D" "$WORK/before.img" || fail "the refused bootstrap changed $D"
# With --force, and with the bundle given (--keys): the same bundle lands.
"$KOS_TOOL" keys.generate --device --out "$WORK/keys" --trust "$KOS_TRUST" >/dev/null
"$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform=qemu-arm-virt,arch=aarch64 --out "$D" \
  --trust "$KOS_TRUST" --keys "$WORK/keys" --force >"$OUT" 2>&1 || fail "bootstrap --force failed"
part 2 "$WORK/data.ext4"
debugfs -R "cat /keys/identity.pub" "$WORK/data.ext4" 2>/dev/null | cmp -s - "$WORK/keys/identity.pub" ||
  fail "--keys: the disk does not hold the given bundle"

# --boot-files DIR: a file there is taken first (a stand-in initramfs), the
# rest from the build's folder.
mkdir "$WORK/bf"
head -c 4096 /dev/urandom >"$WORK/bf/initramfs.cpio.gz"
"$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$WORK/bf.img" \
  --trust "$KOS_TRUST" --boot-files "$WORK/bf" >"$OUT" 2>&1 || fail "bootstrap --boot-files failed"
D2=$D D=$WORK/bf.img
part 1 "$WORK/bf.vfat"
D=$D2
mcopy -i "$WORK/bf.vfat" ::initramfs.cpio.gz "$WORK/bf/got-initramfs.cpio.gz"
mcopy -i "$WORK/bf.vfat" ::Image "$WORK/bf/got-Image"
cmp -s "$WORK/bf/got-initramfs.cpio.gz" "$WORK/bf/initramfs.cpio.gz" ||
  fail "--boot-files: the initramfs is not the one given"
[ "$(stat -c %s "$WORK/bf/got-Image")" -gt 1000000 ] || fail "--boot-files: no kernel from the build"
rm -f "$WORK/bf.img"

# refused STATUS REGEX ARGS...: bootstrap exits with STATUS saying REGEX, and
# writes nothing (no disk, no scratch folder left).
refused() {
  local want=$1 re=$2 rc
  shift 2
  if [ "$1" = env ]; then # env VAR=VALUE... KOS_TOOL ARGS...
    "$@" >"$OUT" 2>&1 && rc=0 || rc=$?
  else
    "$KOS_TOOL" "$@" >"$OUT" 2>&1 && rc=0 || rc=$?
  fi
  [ "$rc" -eq "$want" ] || fail "kos-tool $*: status $rc, not $want"
  expect "$re"
  [ ! -e "$WORK/new.img" ] || fail "kos-tool $*: wrote $WORK/new.img"
  ! ls -a "$WORK" | grep -q kos-bootstrap || fail "kos-tool $*: left its scratch folder"
}
N=$WORK/new.img
# An image that does not verify: a key it was not signed with; a tampered blob.
"$KOS_TOOL" keys.generate --release --out "$WORK/other" >/dev/null
refused 3 "^kos-tool bootstrap: refusing image .*: .*signature" \
  bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N" --trust "$WORK/other/release.pub"
mkdir "$WORK/tamper"
(cd "$WORK/tamper" && unzip -q "$KOS_DEVICE_IMAGE")
BLOB=$(cd "$WORK/tamper" && ls blobs | head -n1)
printf 'x' >>"$WORK/tamper/blobs/$BLOB"
(cd "$WORK/tamper" && zip -qr "$WORK/tampered.zip" .)
refused 3 "^kos-tool bootstrap: refusing image $WORK/tampered.zip: " \
  bootstrap "$WORK/tampered.zip" --platform qemu-arm-virt --out "$N" --trust "$KOS_TRUST"
refused 1 "^kos-tool bootstrap: --size 8 MiB is too small: this system needs at least [0-9]+ MiB" \
  bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N" --trust "$KOS_TRUST" --size 8
refused 1 "^kos-tool bootstrap: refusing key bundle $WORK/other: " \
  bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N" --trust "$KOS_TRUST" \
  --keys "$WORK/other"
refused 2 "--platform takes one of the boards qemu-arm-virt, rpi4, .*; not 'rpi5'" \
  bootstrap "$KOS_DEVICE_IMAGE" --platform rpi5 --out "$N" --trust "$KOS_TRUST"
refused 2 "--yes goes with a block device; $N is not one" \
  bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N" --trust "$KOS_TRUST" --yes
refused 2 "no --trust key given" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N"
refused 2 "--keys names a bundle made already; --server goes with making a new one" \
  bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$N" --trust "$KOS_TRUST" \
  --keys "$WORK/keys" --server studio
# A missing tool is named with its package (PATH without mkimage's folder).
mkdir "$WORK/bin"
for t in sfdisk mkfs.vfat mcopy mkfs.ext4; do ln -s "$(command -v $t)" "$WORK/bin/$t"; done
refused 1 "^kos-tool bootstrap: mkimage is missing: install the Debian package u-boot-tools" \
  env PATH="$WORK/bin" "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt \
  --out "$N" --trust "$KOS_TRUST"

# SIGTERM stops bootstrap: no disk, no DISK.tmp, no scratch folder left
# (or, when it came too late, the disk is whole).
mkdir "$WORK/term"
"$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform qemu-arm-virt --out "$WORK/term/d.img" \
  --trust "$KOS_TRUST" >"$OUT" 2>&1 &
sleep 0.1
kill -TERM $! 2>/dev/null || true
wait $! && RC=0 || RC=$?
if [ "$RC" -eq 0 ]; then
  sfdisk -d "$WORK/term/d.img" >/dev/null || fail "bootstrap ended by itself, but its disk is not whole"
else
  [ "$RC" -eq 143 ] || fail "bootstrap stopped by SIGTERM: status $RC, not 143"
  expect "^kos-tool bootstrap: stopped by Terminated; nothing was written$"
  [ -z "$(ls -A "$WORK/term")" ] || fail "bootstrap stopped by SIGTERM left $(ls -A "$WORK/term")"
fi

# kos-tool run --platform qemu-arm-virt takes a disk, and only that.
refused 2 "is a system image, not a disk: make the device's disk with kos-tool bootstrap" \
  run --platform qemu-arm-virt "$KOS_DEVICE_IMAGE"
refused 2 "--storage is for the sim platform" run --platform qemu-arm-virt "$D" --storage "$WORK/s"
refused 2 "--platform takes sim or qemu-arm-virt, not 'rpi4'" run --platform rpi4 "$D"
echo "PASS"
