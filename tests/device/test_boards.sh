# kos-tool bootstrap --platform BOARD for the real boards (docs/boards.md),
# checked as layouts only (nothing here boots them): each disk's partition
# table (starts, types, the bootable flag), the FAT partition's files and
# label, U-Boot at its raw offset (the i.MX8M Mini's flash.bin at 33 KiB),
# config.txt (rpi4), and boot.scr decoded: its image type and its commands.
# rpi4 takes Debian's u-boot-rpi and am335x Debian's u-boot-omap as the
# device builds fetched them (a stand-in when the fetch failed, said below),
# and am335x the armhf device build's kernel, initramfs and device tree;
# the boards Debian has no U-Boot for take stand-ins this test makes, and so
# does the Raspberry Pi firmware. Refused, each with a
# clear error and nothing written: an unknown board (the known ones listed),
# a missing U-Boot, firmware, device tree or kernel (saying where to get
# it), a flash.bin that does not fit before the boot partition, two U-Boot
# files given as one, a file bootstrap cannot read, a size too small.
source "$(dirname "$0")/lib.sh"
needs mtype mtools cpio cpio

BOARDS=$(dirname "$KOS_DEVICE_IMAGE")/../../device-aarch64/device
[ -d "$BOARDS/rpi4" ] || BOARDS=$(cd "$(dirname "$KOS_TOOL")/.." && pwd)/device-aarch64/device
[ -d "$BOARDS/rpi4" ] || fail "the device build made no board folders in $BOARDS"

# Stand-ins: firmware, U-Boot and the armhf boot files, recognisable bytes.
mkdir -p "$WORK/fw" "$WORK/armhf" "$WORK/px8"
stand_in() { head -c "$2" /dev/urandom >"$1"; }
stand_in "$WORK/fw/start4.elf" 2300000
stand_in "$WORK/fw/fixup4.dat" 5400
stand_in "$WORK/flash.bin" 1500000
stand_in "$WORK/armhf/zImage" 5000000
stand_in "$WORK/armhf/initramfs.cpio.gz" 3000000
stand_in "$WORK/armhf/am335x-boneblack.dtb" 60000
stand_in "$WORK/px8/imx8mm-portenta-x8.dtb" 50000

boot() { # boot BOARD DISK ARGS...: bootstrap BOARD into DISK
  local board=$1 disk=$2
  shift 2
  "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --platform "$board" --out "$disk" \
    --trust "$KOS_TRUST" "$@" >"$OUT" 2>&1 || fail "bootstrap --platform $board failed"
  expect "^wrote $disk \([0-9]+ MiB\) for $board: "
}
part() { # part DISK N OUTFILE: copies partition N out of DISK
  local start size
  read -r start size < <(sfdisk -d "$1" | sed -n "s|^$1$2 : start= *\([0-9]*\), size= *\([0-9]*\).*|\1 \2|p")
  dd if="$1" of="$3" bs=512 skip="$start" count="$size" status=none
}
table() { # table DISK START: p1 FAT (c) bootable at START sectors, p2 Linux after it
  sfdisk -d "$1" >"$OUT"
  expect "^label: dos$"
  expect "^$1""1 : start= *$2, size= *[0-9]+, type=c, bootable$"
  expect "^$1""2 : start= *[0-9]+, size= *[0-9]+, type=83$"
  [ "$(grep -c "^$1" "$OUT")" -eq 2 ] || fail "$1 has more than two partitions"
}
files() { # files VFAT NAME...: the FAT partition holds exactly NAME...
  mdir -i "$1" -b :: | sed 's|^::/||' | sort >"$OUT"
  shift
  printf '%s\n' "$@" | sort | diff - "$OUT" >&2 || fail "the boot partition's files differ (above)"
}
script() { # script VFAT ARCH: boot.scr's type, and its commands (decoded) into $OUT
  mcopy -o -i "$1" ::boot.scr ::boot.cmd "$WORK/"
  dumpimage -l "$WORK/boot.scr" >"$OUT"
  expect "Image Type: +$2 Linux Script"
  # A script image: a 64-byte header, the script's length (4 bytes) and a
  # 0 (4 bytes), then the script; it must be boot.cmd as written.
  tail -c +73 "$WORK/boot.scr" | head -c "$(stat -c %s "$WORK/boot.cmd")" | cmp -s - "$WORK/boot.cmd" ||
    fail "boot.scr does not hold boot.cmd"
  tail -c +73 "$WORK/boot.scr" | tr -d '\0' >"$OUT"
}
data() { # data DISK: the data partition is the same as qemu-arm-virt's
  part "$1" 2 "$WORK/data.ext4"
  dumpe2fs -h "$WORK/data.ext4" 2>/dev/null | grep -qE "^Filesystem volume name: +kos-data$" ||
    fail "$1: the data partition is not labelled kos-data"
  debugfs -R "cat /store/state" "$WORK/data.ext4" 2>/dev/null | grep -q "^current 1$" ||
    fail "$1: the store has no generation 1"
  debugfs -R "ls -p /keys" "$WORK/data.ext4" 2>/dev/null | grep -q "/identity.key/" ||
    fail "$1: no key bundle"
}
LOAD='load \$\{devtype\} \$\{devnum\}:\$\{distro_bootpart\}'
modules() { # modules VFAT MODULE...: the initramfs loads MODULE... last, in order
  mcopy -o -i "$1" ::initramfs.cpio.gz "$WORK/got.initramfs.cpio.gz"
  shift
  zcat "$WORK/got.initramfs.cpio.gz" | (cd "$WORK" && cpio -i --quiet --to-stdout lib/modules/kos/order) |
    tail -n $# | diff - <(printf '%s\n' "$@") >&2 || fail "the initramfs does not end with $* (above)"
  for m in "$@"; do
    zcat "$WORK/got.initramfs.cpio.gz" | cpio -t --quiet | grep -qx "lib/modules/kos/$m.ko" ||
      fail "the initramfs has no $m.ko"
  done
}
same() { # same VFAT NAME FILE: NAME on the boot partition is FILE
  mcopy -o -i "$1" "::$2" "$WORK/got.$2"
  cmp -s "$WORK/got.$2" "$3" || fail "$2 on the boot partition is not $3"
}
commands() { # commands BOOTARGS KERNEL DTB|- BOOT FDT: boot.scr's commands ($OUT)
  expect "^setenv bootargs \"$1 quiet panic=-1\"$"
  expect "^$LOAD \\$\\{kernel_addr_r\\} $2$"
  [ "$3" = - ] || expect "^$LOAD \\$\\{fdt_addr_r\\} $3$"
  expect "^$LOAD \\$\\{ramdisk_addr_r\\} initramfs.cpio.gz$"
  expect "^$4 \\$\\{kernel_addr_r\\} \\$\\{ramdisk_addr_r\\}:\\$\\{filesize\\} \\$\\{$5\\}$"
  # The initramfs is loaded last: the boot command takes its ${filesize}.
  grep '^load' "$OUT" | tail -n1 | grep -q initramfs || fail "the initramfs is not loaded last"
}

# rpi4: FAT32 at 4 MiB with the firmware, config.txt, the DTB the firmware
# hands U-Boot, u-boot.bin (Debian's), the kernel; boot.scr boots with the
# firmware's device tree.
D=$WORK/rpi4.img
RPI_UBOOT=()
if [ ! -f "$BOARDS/rpi4/u-boot.bin" ]; then
  echo "NOTE: the device build has no u-boot-rpi (apt-get download failed?): a stand-in U-Boot" >&2
  stand_in "$WORK/u-boot.bin" 600000
  RPI_UBOOT=(--u-boot "$WORK/u-boot.bin")
fi
boot rpi4 "$D" --boot-files "$WORK/fw" "${RPI_UBOOT[@]}"
table "$D" 8192
part "$D" 1 "$WORK/boot.vfat"
files "$WORK/boot.vfat" Image initramfs.cpio.gz bcm2711-rpi-4-b.dtb start4.elf fixup4.dat \
  u-boot.bin config.txt boot.scr boot.cmd
file -s "$WORK/boot.vfat" | grep -q "FAT (32 bit)" || fail "rpi4: the boot partition is not FAT32"
mtype -i "$WORK/boot.vfat" ::config.txt >"$OUT"
expect "^arm_64bit=1$"
expect "^kernel=u-boot.bin$"
expect "^enable_uart=1$"
same "$WORK/boot.vfat" start4.elf "$WORK/fw/start4.elf"
if [ ${#RPI_UBOOT[@]} -eq 0 ]; then
  same "$WORK/boot.vfat" u-boot.bin "$BOARDS/rpi4/u-boot.bin"
  grep -qa "U-Boot 20" "$WORK/got.u-boot.bin" || fail "rpi4: u-boot.bin is no U-Boot"
fi
same "$WORK/boot.vfat" Image "$BOARDS/rpi4/Image"
modules "$WORK/boot.vfat" sdhci sdhci-pltfm sdhci-iproc # the SD card's controller
script "$WORK/boot.vfat" AArch64
commands "console=ttyS1,115200 kos.data=/dev/mmcblk0p2" Image - booti fdt_addr
data "$D"

# imx8mm-evk: flash.bin at 33 KiB, the boot partition at 8 MiB; boot.scr
# loads the DTB itself.
D=$WORK/imx.img
boot imx8mm-evk "$D" --u-boot "$WORK/flash.bin"
expect "flash.bin at 33 KiB"
table "$D" 16384
cmp -s <(dd if="$D" bs=1024 skip=33 count=$(($(stat -c %s "$WORK/flash.bin") / 1024)) status=none) \
  <(head -c $(($(stat -c %s "$WORK/flash.bin") / 1024 * 1024)) "$WORK/flash.bin") ||
  fail "imx8mm-evk: flash.bin is not at 33 KiB"
[ -z "$(dd if="$D" bs=512 skip=1 count=65 status=none | tr -d '\0')" ] ||
  fail "imx8mm-evk: something between the MBR and 33 KiB"
part "$D" 1 "$WORK/boot.vfat"
files "$WORK/boot.vfat" Image initramfs.cpio.gz imx8mm-evk.dtb boot.scr boot.cmd
script "$WORK/boot.vfat" AArch64
commands "console=ttymxc1,115200 kos.data=/dev/mmcblk1p2" Image imx8mm-evk.dtb booti fdt_addr_r
modules "$WORK/boot.vfat" sdhci sdhci-pltfm cqhci sdhci-esdhc-imx # the uSDHC
# imx8mm_evk's U-Boot has no ramdisk_addr_r: boot.scr sets one.
expect '^if test -z "\$\{ramdisk_addr_r\}"; then setenv ramdisk_addr_r 0x43800000; fi$'
data "$D"

# portenta-x8: the same layout, its DTB from --boot-files, eMMC's data.
D=$WORK/px8.img
boot portenta-x8 "$D" --u-boot "$WORK/flash.bin" --boot-files "$WORK/px8"
table "$D" 16384
part "$D" 1 "$WORK/boot.vfat"
files "$WORK/boot.vfat" Image initramfs.cpio.gz imx8mm-portenta-x8.dtb boot.scr boot.cmd
script "$WORK/boot.vfat" AArch64
commands "console=ttymxc1,115200 kos.data=/dev/mmcblk2p2" Image imx8mm-portenta-x8.dtb booti \
  fdt_addr_r

# am335x: MLO and u-boot.img (Debian's u-boot-omap) on the bootable FAT
# partition at 1 MiB; a 32-bit ARM script booting zImage with bootz. The
# kernel, initramfs and device tree are the armhf device build's, taken
# without --boot-files (test_armhf.sh boots them); stand-ins without one.
D=$WORK/am335x.img
AM=$KOS_DEVICE_ARMHF_DIR/am335x
AM_FILES=()
if [ "${KOS_HAVE_DEVICE_BUILD_ARMHF:-OFF}" != ON ]; then
  echo "NOTE: no armhf device build: a stand-in kernel, initramfs and device tree" >&2
  AM_FILES=(--boot-files "$WORK/armhf")
  AM=$WORK/armhf
fi
AM_UBOOT=()
if [ ! -f "$AM/MLO" ]; then
  echo "NOTE: the armhf device build has no u-boot-omap (apt-get download failed?): stand-ins" >&2
  mkdir "$WORK/omap"
  stand_in "$WORK/omap/MLO" 100000
  stand_in "$WORK/omap/u-boot.img" 700000
  AM_UBOOT=(--u-boot "$WORK/omap")
fi
boot am335x "$D" "${AM_FILES[@]}" "${AM_UBOOT[@]}"
table "$D" 2048
part "$D" 1 "$WORK/boot.vfat"
files "$WORK/boot.vfat" MLO u-boot.img zImage initramfs.cpio.gz am335x-boneblack.dtb boot.scr boot.cmd
[ ${#AM_UBOOT[@]} -gt 0 ] || same "$WORK/boot.vfat" MLO "$AM/MLO"
for f in zImage initramfs.cpio.gz am335x-boneblack.dtb; do
  same "$WORK/boot.vfat" "$f" "$AM/$f"
done
[ ${#AM_FILES[@]} -gt 0 ] || modules "$WORK/boot.vfat" sdhci sdhci-pltfm sdhci-omap # the SD card's controller
script "$WORK/boot.vfat" ARM
commands "console=ttyS0,115200n8 kos.data=/dev/mmcblk0p2" zImage am335x-boneblack.dtb bootz fdt_addr_r
data "$D"

# Refusals: a clear error, the status, nothing written, no scratch left.
N=$WORK/new.img
refused() { # refused STATUS REGEX ARGS...
  local want=$1 re=$2 rc
  shift 2
  "$KOS_TOOL" bootstrap "$KOS_DEVICE_IMAGE" --out "$N" --trust "$KOS_TRUST" "$@" >"$OUT" 2>&1 &&
    rc=0 || rc=$?
  [ "$rc" -eq "$want" ] || fail "bootstrap $*: status $rc, not $want"
  expect "$re"
  [ ! -e "$N" ] || fail "bootstrap $*: wrote $N"
  ! ls -a "$WORK" | grep -q kos-bootstrap || fail "bootstrap $*: left its scratch folder"
}
refused 2 "--platform takes one of the boards qemu-arm-virt, rpi4, imx8mm-evk, portenta-x8, am335x; not 'rpi5'" \
  --platform rpi5
refused 1 "^kos-tool bootstrap: the imx8mm-evk U-Boot .*/imx8mm-evk/flash.bin is missing .*: it comes from a U-Boot build for imx8mm_evk \(Debian has none\).*--u-boot FILE" \
  --platform imx8mm-evk
refused 1 "^kos-tool bootstrap: the portenta-x8 U-Boot $WORK/nothing.bin is missing .*Arduino" \
  --platform portenta-x8 --u-boot "$WORK/nothing.bin" --boot-files "$WORK/px8"
refused 1 "^kos-tool bootstrap: the rpi4 firmware .*/start4.elf is missing .*github.com/raspberrypi/firmware.*--boot-files DIR" \
  --platform rpi4 "${RPI_UBOOT[@]}"
refused 1 "^kos-tool bootstrap: the portenta-x8 device tree .*imx8mm-portenta-x8.dtb is missing .*Debian's kernel has no Portenta X8 tree" \
  --platform portenta-x8 --u-boot "$WORK/flash.bin"
refused 1 "^kos-tool bootstrap: the portenta-x8 device tree .*/portenta-x8/imx8mm-portenta-x8.dtb is missing \(No such file or directory\), nor is it in --boot-files $WORK/fw: it comes from" \
  --platform portenta-x8 --u-boot "$WORK/flash.bin" --boot-files "$WORK/fw"
if [ "${KOS_HAVE_DEVICE_BUILD_ARMHF:-OFF}" != ON ]; then
  refused 1 "^kos-tool bootstrap: the am335x kernel .*/zImage is missing .*the armhf device build \(cross-armhf preset.*linux-image-armmp" \
    --platform am335x
fi
refused 1 "^kos-tool bootstrap: am335x takes 2 U-Boot files \(MLO, u-boot.img\): give the folder that holds them with --u-boot DIR" \
  --platform am335x --u-boot "$WORK/flash.bin" --boot-files "$WORK/armhf"
stand_in "$WORK/big.bin" $((8 * 1024 * 1024))
refused 1 "^kos-tool bootstrap: imx8mm-evk $WORK/big.bin \(8192 KiB\) does not fit between 33 KiB, where the boot ROM reads it, and the boot partition at 8 MiB" \
  --platform imx8mm-evk --u-boot "$WORK/big.bin"
mkdir -p "$WORK/adir/flash.bin"
refused 1 "^kos-tool bootstrap: the imx8mm-evk U-Boot $WORK/adir/flash.bin is not a file" \
  --platform imx8mm-evk --u-boot "$WORK/adir"
refused 1 "^kos-tool bootstrap: --size 40 MiB is too small: this system needs at least [0-9]+ MiB" \
  --platform rpi4 --boot-files "$WORK/fw" --size 40 "${RPI_UBOOT[@]}"

# A file bootstrap cannot read (mode 000, kos-tool run as nobody when this
# test is root: root reads anything).
if [ "$(id -u)" -eq 0 ]; then
  U=$(mktemp -d /tmp/kos-boards-XXXXXX)
  trap 'rm -rf "$WORK" "$U"' EXIT
  chmod 755 "$U"
  mkdir -m 1777 "$U/out"
  cp "$WORK/flash.bin" "$KOS_DEVICE_IMAGE" "$KOS_TRUST" "$U/"
  chmod 644 "$U"/*.zip "$U"/*.pub
  chmod 000 "$U/flash.bin"
  setpriv --reuid=65534 --regid=65534 --clear-groups "$KOS_TOOL" bootstrap \
    "$U/$(basename "$KOS_DEVICE_IMAGE")" --platform imx8mm-evk --out "$U/out/d.img" \
    --trust "$U/$(basename "$KOS_TRUST")" --u-boot "$U/flash.bin" >"$OUT" 2>&1 && RC=0 || RC=$?
  [ "$RC" -eq 1 ] || fail "an unreadable --u-boot: status $RC, not 1"
  expect "^kos-tool bootstrap: cannot read the imx8mm-evk U-Boot $U/flash.bin: Permission denied$"
  [ -z "$(ls -A "$U/out")" ] || fail "an unreadable --u-boot: wrote $(ls -A "$U/out")"
fi
echo "PASS"
