# The armhf device runtime (docs/boards.md, "am335x"): examples/hello built
# for armhf, made into an am335x disk by kos-tool bootstrap with nothing but
# the armhf device build's files (no --boot-files, no --u-boot), whose
# boot partition holds that build's zImage (Debian's armmp kernel),
# initramfs (the armhf kos-init, its modules and libraries), device tree and
# U-Boot. A BeagleBone cannot be booted here, so that zImage and initramfs,
# read back from the disk, boot in QEMU's 32-bit virt machine (TCG; no
# U-Boot: the am335x boot.scr names the board's console and SD card), with
# the disk as a virtio-mmio block device and kos.data=/dev/vda2: kos-init
# as PID 1 loads the modules, mounts the data partition, and Core boots
# the system from the store, bounds each app by a cgroup, says it is
# ready, makes generation 1 good; the app's line, the power-off, QEMU's
# exit status 0. One boot; nothing is timed.
DEVICE_ARCH=armhf
source "$(dirname "$0")/lib.sh"
needs qemu-system-arm qemu-system-arm cpio cpio readelf binutils file file
[ -f "$KOS_DEVICE_ARMHF_IMAGE" ] || fail "the armhf hello image $KOS_DEVICE_ARMHF_IMAGE was not built"
B=$KOS_DEVICE_ARMHF_DIR/am335x
for f in zImage initramfs.cpio.gz am335x-boneblack.dtb; do
  [ -f "$B/$f" ] || fail "the armhf device build made no $B/$f"
done

D=$WORK/am335x.img
"$KOS_TOOL" bootstrap "$KOS_DEVICE_ARMHF_IMAGE" --platform am335x --out "$D" \
  --trust "$KOS_TRUST" >"$OUT" 2>&1 || fail "bootstrap --platform am335x without --boot-files failed"
expect "^wrote $D \([0-9]+ MiB\) for am335x: "

# The boot partition holds the armhf build's files.
read -r start size < <(sfdisk -d "$D" | sed -n "s|^${D}1 : start= *\([0-9]*\), size= *\([0-9]*\).*|\1 \2|p")
dd if="$D" of="$WORK/boot.vfat" bs=512 skip="$start" count="$size" status=none
for f in zImage initramfs.cpio.gz am335x-boneblack.dtb; do
  mcopy -o -i "$WORK/boot.vfat" "::$f" "$WORK/$f"
  cmp -s "$WORK/$f" "$B/$f" || fail "$f on the am335x disk is not the armhf device build's $B/$f"
done
if [ -f "$B/MLO" ]; then
  mcopy -o -i "$WORK/boot.vfat" ::MLO "$WORK/MLO"
  cmp -s "$WORK/MLO" "$B/MLO" || fail "MLO on the am335x disk is not the armhf device build's"
fi
# An ARM kernel, and an initramfs for armhf: /init a 32-bit ARM kos-init,
# the armhf loader and C library, the modules in order, the board's SD
# controller's last.
file -b "$WORK/zImage" | grep -q "^Linux kernel ARM boot executable zImage" ||
  fail "zImage is no ARM zImage: $(file -b "$WORK/zImage")"
mkdir "$WORK/ramfs"
(cd "$WORK/ramfs" && zcat "$WORK/initramfs.cpio.gz" | cpio -id --quiet)
readelf -h "$WORK/ramfs/init" >"$OUT"
expect "Class: +ELF32"
expect "Machine: +ARM$"
[ -f "$WORK/ramfs/lib/ld-linux-armhf.so.3" ] || fail "the initramfs has no armhf loader"
[ -f "$WORK/ramfs/lib/arm-linux-gnueabihf/libc.so.6" ] || fail "the initramfs has no armhf C library"
cp "$WORK/ramfs/lib/modules/kos/order" "$OUT"
[ "$(head -n1 "$OUT")" = virtio_mmio ] || fail "the initramfs does not load virtio_mmio first"
[ "$(tail -n3 "$OUT" | tr '\n' ' ')" = "sdhci sdhci-pltfm sdhci-omap " ] ||
  fail "the initramfs does not end with the AM335x SD controller's modules"
MODULES=$(wc -l <"$OUT")

# The boot. Power-off ends QEMU with status 0.
start=$(date +%s)
timeout 300 qemu-system-arm -M virt -cpu cortex-a15 -m 512 -smp 1 -nographic -no-reboot \
  -kernel "$WORK/zImage" -initrd "$WORK/initramfs.cpio.gz" \
  -append "console=ttyAMA0 kos.data=/dev/vda2 quiet panic=-1" \
  -drive "if=none,format=raw,file=$D,id=disk" -device virtio-blk-device,drive=disk \
  </dev/null >"$OUT" 2>&1 && RC=0 || RC=$?
echo "booted and powered off in $(($(date +%s) - start)) s (not asserted)"
[ "$RC" -ne 124 ] || fail "the armhf device did not power off within 300 s"
[ "$RC" -eq 0 ] || fail "qemu-system-arm: status $RC, not 0"
sed -i 's/\r$//' "$OUT"

in_order "$TS kos-init: KOS on qemu-arm-virt: mounted /proc, /sys, /dev, /run$" \
  "$TS kos-init: loaded $MODULES kernel modules$" \
  "$TS kos-init: mounted the data partition /dev/vda2 on /data$" \
  "${HELLO_LINES[@]}"
grep -E "$TS core: sandbox: " "$OUT" | sed 's/^/armhf: /'
echo "PASS"
