#!/usr/bin/env bash
# mkboards.sh ARCH DEVICE_DIR CACHE_DIR KOS_INIT [ARG...] - the real boards'
# folders of boot files for ARCH (docs/boards.md): what Debian has of each
# board, which kos-tool bootstrap --platform BOARD takes unless
# --boot-files or --u-boot gives it.
#
# aarch64, beside the qemu-arm-virt folder mkboot.sh makes in
# DEVICE_DIR/qemu-arm-virt:
#   rpi4/         Image (qemu-arm-virt's), initramfs.cpio.gz (with the SD
#                 controller's modules), bcm2711-rpi-4-b.dtb (Debian's arm64
#                 kernel), u-boot.bin (u-boot-rpi, rpi_4)
#   imx8mm-evk/   Image, initramfs.cpio.gz (with the uSDHC's modules),
#                 imx8mm-evk.dtb (Debian's kernel)
#   portenta-x8/  Image, initramfs.cpio.gz (the i.MX8M Mini's)
# armhf:
#   am335x/       zImage (Debian's armmp kernel), initramfs.cpio.gz (with
#                 the AM335x SD controller's modules, and the virtio ones
#                 its boot under QEMU needs), am335x-boneblack.dtb (Debian's
#                 kernel), MLO and u-boot.img (u-boot-omap, am335x_evm)
#
# The U-Boot packages are fetched once with apt-get download into CACHE_DIR
# and unpacked there with dpkg-deb -x, never installed. A package that
# cannot be fetched (no network, no armhf architecture) leaves its files
# out, says so, and the build goes on: bootstrap then names what is missing.
#
# The board's initramfs is mkboot.sh's, with ARG... passed on to it, and
# the board's modules added (KOS_BOARD_MODULES).
set -euo pipefail
arch=$1 dev=$2 cache=$3 init=$4
shift 4
mkdir -p "$cache"
here=$(dirname "$0")

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

# dtbs FLAVOUR: the device trees' folder of Debian's kernel of that flavour,
# unpacked by mkboot.sh.
dtbs() {
  local root
  root=$(ls -d "$cache"/linux-image-*-"$1".root 2>/dev/null | head -n1 || true)
  [ -n "$root" ] || { echo "mkboards.sh: Debian's $1 kernel is not unpacked in $cache (mkboot.sh does it)" >&2; exit 1; }
  ls -d "$root"/usr/lib/linux-image-* | head -n1
}

case $arch in
aarch64) boards=(rpi4 imx8mm-evk portenta-x8) ;;
armhf) boards=(am335x) ;;
*) echo "mkboards.sh: no boards for the architecture '$arch' (aarch64 or armhf)" >&2; exit 1 ;;
esac
for b in "${boards[@]}"; do
  rm -rf "$dev/$b"
  mkdir -p "$dev/$b"
done

if [ "$arch" = aarch64 ]; then
  # The initramfs with the SD/eMMC controller's modules (Debian's arm64 kernel
  # has the MMC core and block driver built in, the controllers as modules):
  # the Pi 4's emmc2 is an iProc SDHCI; the i.MX8M Mini's uSDHC an eSDHC.
  KOS_BOARD_MODULES="sdhci sdhci-pltfm sdhci-iproc" \
    bash "$here/mkboot.sh" aarch64 "$init" "$dev/rpi4" "$cache" "$@" >/dev/null
  KOS_BOARD_MODULES="sdhci sdhci-pltfm cqhci sdhci-esdhc-imx" \
    bash "$here/mkboot.sh" aarch64 "$init" "$dev/imx8mm-evk" "$cache" "$@" >/dev/null
  ln -s ../imx8mm-evk/initramfs.cpio.gz "$dev/portenta-x8/initramfs.cpio.gz"
  for b in rpi4 imx8mm-evk portenta-x8; do
    rm -rf "$dev/$b/Image" "$dev/$b/initramfs"
    ln -s ../qemu-arm-virt/Image "$dev/$b/Image"
  done
  d=$(dtbs arm64)
  put "$d/broadcom/bcm2711-rpi-4-b.dtb" "$dev/rpi4"
  put "$d/freescale/imx8mm-evk.dtb" "$dev/imx8mm-evk"
  root=$(unpack u-boot-rpi:arm64)
  [ -z "$root" ] || put "$root/usr/lib/u-boot/rpi_4/u-boot.bin" "$dev/rpi4"
else
  # The armmp kernel has the MMC core built in and the AM335x's SD
  # controller (ti,am335-sdhci) as sdhci-omap.
  KOS_BOARD_MODULES="sdhci sdhci-pltfm sdhci-omap" \
    bash "$here/mkboot.sh" armhf "$init" "$dev/am335x" "$cache" "$@" >/dev/null
  rm -rf "$dev/am335x/initramfs"
  d=$(dtbs armmp)
  put "$d/am335x-boneblack.dtb" "$dev/am335x"
  root=$(unpack u-boot-omap:armhf)
  if [ -n "$root" ]; then
    put "$root/usr/lib/u-boot/am335x_evm/MLO" "$dev/am335x"
    put "$root/usr/lib/u-boot/am335x_evm/u-boot.img" "$dev/am335x"
  fi
fi
for b in "${boards[@]}"; do
  echo "mkboards.sh: $dev/$b: $(cd "$dev/$b" && ls | tr '\n' ' ')"
done
