#!/usr/bin/env bash
# mkboards.sh DEVICE_DIR CACHE_DIR - the real boards' folders of boot files
# (docs/boards.md), beside the qemu-arm-virt one mkboot.sh makes in
# DEVICE_DIR/qemu-arm-virt: what Debian has of each board, which
# kos-tool bootstrap --platform BOARD takes unless --boot-files or --u-boot
# gives it.
#
#   rpi4/         Image, initramfs.cpio.gz (qemu-arm-virt's), bcm2711-rpi-4-b.dtb
#                 (Debian's arm64 kernel), u-boot.bin (u-boot-rpi, rpi_4)
#   imx8mm-evk/   Image, initramfs.cpio.gz, imx8mm-evk.dtb (Debian's kernel)
#   portenta-x8/  Image, initramfs.cpio.gz
#   am335x/       MLO, u-boot.img (u-boot-omap, am335x_evm)
#
# The U-Boot packages are fetched once with apt-get download into CACHE_DIR
# and unpacked there with dpkg-deb -x, never installed. A package that
# cannot be fetched (no network, no armhf architecture) leaves its files
# out, says so, and the build goes on: bootstrap then names what is missing.
set -euo pipefail
dev=$1 cache=$2
mkdir -p "$cache"

# unpack PACKAGE:ARCH: the package's root in the cache, or "" after a warning.
unpack() {
  local pkg=${1%%:*} arch=${1##*:} deb root
  deb=$(ls "$cache"/"$pkg"_*_"$arch".deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    echo "mkboards.sh: fetching $pkg ($arch) into $cache" >&2
    (cd "$cache" && apt-get download -q "$1" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    deb=$(ls "$cache"/"$pkg"_*_"$arch".deb 2>/dev/null | head -n1 || true)
  fi
  if [ -z "$deb" ]; then
    echo "mkboards.sh: warning: apt-get download $1 failed: its boards' U-Boot must be given with kos-tool bootstrap --u-boot" >&2
    return 0
  fi
  root=$cache/$pkg-$arch.root
  if [ ! -f "$root/.unpacked" ] || [ "$deb" -nt "$root/.unpacked" ]; then
    rm -rf "$root"
    dpkg-deb -x "$deb" "$root"
    touch "$root/.unpacked"
  fi
  echo "$root"
}

# put FILE DIR: copies FILE into DIR (replacing it whole), when FILE exists.
put() { [ -f "$1" ] && cp "$1" "$2/$(basename "$1").tmp" && mv "$2/$(basename "$1").tmp" "$2/$(basename "$1")" || true; }

kernel=$(ls -d "$cache"/linux-image-*-arm64.root 2>/dev/null | head -n1 || true)
[ -n "$kernel" ] || { echo "mkboards.sh: Debian's arm64 kernel is not unpacked in $cache (mkboot.sh does it)" >&2; exit 1; }
dtbs=$(ls -d "$kernel"/usr/lib/linux-image-* | head -n1)

for b in rpi4 imx8mm-evk portenta-x8 am335x; do
  rm -rf "$dev/$b"
  mkdir -p "$dev/$b"
done
for b in rpi4 imx8mm-evk portenta-x8; do
  ln -s ../qemu-arm-virt/Image "$dev/$b/Image"
  ln -s ../qemu-arm-virt/initramfs.cpio.gz "$dev/$b/initramfs.cpio.gz"
done
put "$dtbs/broadcom/bcm2711-rpi-4-b.dtb" "$dev/rpi4"
put "$dtbs/freescale/imx8mm-evk.dtb" "$dev/imx8mm-evk"

root=$(unpack u-boot-rpi:arm64)
[ -z "$root" ] || put "$root/usr/lib/u-boot/rpi_4/u-boot.bin" "$dev/rpi4"
root=$(unpack u-boot-omap:armhf)
if [ -n "$root" ]; then
  put "$root/usr/lib/u-boot/am335x_evm/MLO" "$dev/am335x"
  put "$root/usr/lib/u-boot/am335x_evm/u-boot.img" "$dev/am335x"
fi
for b in rpi4 imx8mm-evk portenta-x8 am335x; do
  echo "mkboards.sh: $dev/$b: $(cd "$dev/$b" && ls | tr '\n' ' ')"
done
