#!/usr/bin/env bash
# mkboot.sh ARCH KOS_INIT OUT_DIR CACHE_DIR [COMPONENT...] - a device's boot
# files (docs/boards.md) for ARCH, aarch64 or armhf: OUT_DIR/KERNEL, Debian's
# kernel for ARCH (Image, linux-image-arm64's, for qemu-arm-virt and the
# arm64 boards; zImage, linux-image-armmp's, for am335x), and
# OUT_DIR/initramfs.cpio.gz, a newc cpio holding only /init (kos-init), the
# kernel modules kos-init loads (listed in load order in
# /lib/modules/kos/order) and the shared libraries kos-init and the
# components (COMPONENT..., the message server and the Poukai services) need:
# the C library, and the tunnel's OpenSSL and libevent. Apps' sandboxes get
# theirs from here. The apps' and message servers' binaries are not here:
# they are blobs in the boot store on the data partition.
#
# The kernel package (the metapackage's current version) is fetched once
# with apt-get download into CACHE_DIR and unpacked there with dpkg-deb -x;
# it is never installed on the host.
#
# KOS_BOARD_MODULES="MODULE..." (mkboards.sh, for a real board): the
# board's own modules, its SD or eMMC controller's, loaded after the
# others, each after what it depends on.
set -euo pipefail
arch=$1 init=$2 out=$3 cache=$4
shift 4
mkdir -p "$out" "$cache"

# The modules kos-init needs from Debian's kernel, each after what it
# depends on (modinfo depends= and softdep=): the virtio transport of
# QEMU's virt machine (PCI for aarch64, as kos-tool run gives it; MMIO for
# armhf, as tests/device/test_armhf.sh gives it) and virtio-blk for the
# disk; ext4 for the data partition; virtio-net for the network. Then the
# Debian architecture, the kernel's flavour (its metapackage is
# linux-image-FLAVOUR), the file the kernel is put in, and the libraries'
# multiarch folder.
case $arch in
aarch64)
  modules=(virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci)
  deb_arch=arm64 flavour=arm64 kernel=Image triplet=aarch64-linux-gnu
  ;;
armhf)
  modules=(virtio_mmio)
  deb_arch=armhf flavour=armmp kernel=zImage triplet=arm-linux-gnueabihf
  ;;
*)
  echo "mkboot.sh: no boot files for the architecture '$arch' (aarch64 or armhf)" >&2
  exit 1
  ;;
esac
modules+=(virtio_blk crc16 crc32c_generic mbcache jbd2 ext4 failover net_failover virtio_net
          ${KOS_BOARD_MODULES:-})

pkg=$(apt-cache depends "linux-image-$flavour:$deb_arch" 2>/dev/null |
      sed -n "s/^ *Depends: \(linux-image-[0-9][^:]*-$flavour\).*/\1/p" | head -n1)
if [ -z "$pkg" ]; then
  pkg=$(cd "$cache" && ls linux-image-*-"$flavour"_*.deb 2>/dev/null | sed 's/_.*//' | head -n1)
fi
if [ -z "$pkg" ]; then
  echo "mkboot.sh: cannot find Debian's $deb_arch kernel package (linux-image-$flavour): is the $deb_arch architecture added (dpkg --add-architecture $deb_arch) and apt-get update run?" >&2
  exit 1
fi
deb=$(ls "$cache"/"$pkg"_*_"$deb_arch".deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  echo "mkboot.sh: fetching $pkg ($deb_arch) into $cache"
  (cd "$cache" && apt-get download -q "$pkg:$deb_arch" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls "$cache"/"$pkg"_*_"$deb_arch".deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "mkboot.sh: apt-get download $pkg:$deb_arch failed" >&2; exit 1; }
fi
root=$cache/${pkg}.root
if [ ! -f "$root/.unpacked" ] || [ "$deb" -nt "$root/.unpacked" ]; then
  rm -rf "$root"
  dpkg-deb -x "$deb" "$root"
  touch "$root/.unpacked"
fi
cp "$root"/boot/vmlinuz-* "$out/$kernel.tmp"
mv "$out/$kernel.tmp" "$out/$kernel"

stage=$out/initramfs
rm -rf "$stage"
mkdir -p "$stage/lib/modules/kos" "$stage/lib/$triplet"
install -m 0755 "$init" "$stage/init"
: >"$stage/lib/modules/kos/order"
for m in "${modules[@]}"; do
  ko=$(find "$root/lib/modules" -name "$m.ko" | head -n1)
  [ -n "$ko" ] || { echo "mkboot.sh: module $m.ko is not in $pkg" >&2; exit 1; }
  cp "$ko" "$stage/lib/modules/kos/"
  echo "$m" >>"$stage/lib/modules/kos/order"
done

# The shared libraries kos-init and the components need, found as ARCH's loader would
# find them, and its ELF interpreter at the path it names.
libdirs=("/usr/$triplet/lib" "/lib/$triplet" "/usr/lib/$triplet")
declare -A seen=()
add_deps() {
  local f=$1 n d p interp
  interp=$(readelf -lW "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$interp" ] && [ ! -e "$stage$interp" ]; then
    mkdir -p "$stage$(dirname "$interp")"
    cp -L "/usr/$triplet/lib/$(basename "$interp")" "$stage$interp"
  fi
  for n in $(readelf -dW "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -z "${seen[$n]:-}" ] || continue
    seen[$n]=1
    p=""
    for d in "${libdirs[@]}"; do
      if [ -e "$d/$n" ]; then p=$d/$n; break; fi
    done
    [ -n "$p" ] || { echo "mkboot.sh: $n (needed by $f) is not installed for $deb_arch" >&2; exit 1; }
    cp -L "$p" "$stage/lib/$triplet/$n"
    add_deps "$p"
  done
}
add_deps "$init"
for b in "$@"; do add_deps "$b"; done

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
  gzip -9n >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "mkboot.sh: $out/$kernel ($pkg), $out/initramfs.cpio.gz ($(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB)"
