#!/usr/bin/env bash
# mkboards.sh DEVICE_DIR CACHE_DIR KOS_INIT [ARG...] - the real boards' folders of boot files
# (docs/boards.md), beside the qemu-arm-virt one mkboot.sh makes in
# DEVICE_DIR/qemu-arm-virt: what Debian has of each board, which
# kos-tool bootstrap --platform BOARD takes unless --boot-files or --u-boot
# gives it.
#
#   rpi4/         Image (qemu-arm-virt's), initramfs.cpio.gz (with the SD
#                 controller's modules), bcm2711-rpi-4-b.dtb (Debian's arm64
#                 kernel), u-boot.bin (u-boot-rpi, rpi_4)
#   imx8mm-evk/   Image, initramfs.cpio.gz (with the uSDHC's modules),
#                 imx8mm-evk.dtb (Debian's kernel)
#   portenta-x8/  Image, initramfs.cpio.gz (the i.MX8M Mini's)
#   am335x/       MLO, u-boot.img (u-boot-omap, am335x_evm)
#
# The U-Boot packages are fetched once with apt-get download into CACHE_DIR
# and unpacked there with dpkg-deb -x, never installed. A package that
# cannot be fetched (no network, no armhf architecture) leaves its files
# out, says so, and the build goes on: bootstrap then names what is missing.
#
# The board's initramfs is mkboot.sh's, with ARG... passed on to it, and
# the board's modules added (KOS_BOARD_MODULES).
set -euo pipefail
dev=$1 cache=$2 init=$3
shift 3
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
# The initramfs with the SD/eMMC controller's modules (Debian's arm64 kernel
# has the MMC core and block driver built in, the controllers as modules):
# the Pi 4's emmc2 is an iProc SDHCI; the i.MX8M Mini's uSDHC an eSDHC.
here=$(dirname "$0")
KOS_BOARD_MODULES="sdhci sdhci-pltfm sdhci-iproc" \
  bash "$here/mkboot.sh" "$init" "$dev/rpi4" "$cache" "$@" >/dev/null
KOS_BOARD_MODULES="sdhci sdhci-pltfm cqhci sdhci-esdhc-imx" \
  bash "$here/mkboot.sh" "$init" "$dev/imx8mm-evk" "$cache" "$@" >/dev/null
ln -s ../imx8mm-evk/initramfs.cpio.gz "$dev/portenta-x8/initramfs.cpio.gz"
for b in rpi4 imx8mm-evk portenta-x8; do
  rm -rf "$dev/$b/Image" "$dev/$b/initramfs"
  ln -s ../qemu-arm-virt/Image "$dev/$b/Image"
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
