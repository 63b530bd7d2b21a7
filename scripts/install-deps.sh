#!/usr/bin/env bash
# Installs every Debian 12 package KOS needs to build, test and benchmark.
# Idempotent: packages already present are left alone, and apt is only
# consulted when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries (ARCHITECTURE.md section 10)
  libyaml-dev libssl-dev libzip-dev libseccomp-dev libcap-ng-dev
  # protobuf payloads: protoc-c for kos_protobuf_generate(), libprotobuf-c
  protobuf-c-compiler libprotobuf-c-dev
  # tests
  libcmocka-dev zip unzip python3 openssl   # openssl: the key_store test checks signatures with the CLI
  rng-tools5 xxd   # rngtest (FIPS 140-2 battery) and hex decoding for the rng_server test
  # Core makes, checks and grows an app's /data file system (mke2fs, e2fsck,
  # resize2fs); kos-tool log.view reads a store out of one (debugfs)
  e2fsprogs
  # fuzzing (the fuzz preset; libclang-rt-14-dev holds libFuzzer, only
  # recommended by clang) and the cross-aarch64 preset
  clang libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  # the device link and the servers (docs/link.md): libevent with its OpenSSL
  # bufferevents, WebSocket framing, storage, JSON
  libevent-dev libwslay-dev libsqlite3-dev libjansson-dev
  # tests of the link and the servers: an independent WebSocket client, and
  # the web UI in a real browser (Debian's chromium, driven by playwright-core
  # from npm, pinned by tests/browser/package-lock.json; nodejs bundles npm),
  # and an HTTP client for the Studio server's API (tests/system/test_studio_*.sh)
  python3-websockets chromium nodejs curl
  # benchmark peers: ZeroMQ (bench/msg); Debian's Mosquitto 2 broker, against
  # which bench/link measures kos-server's memory per link and handshakes
  # (started by bench/link/run.sh in a scratch folder, never as a service)
  libzmq3-dev mosquitto
  # kos-tool network.enable_forwarding (a QEMU device on a TAP interface
  # reaching beyond the host) and its test in a network namespace
  nftables iproute2
  # remote debugging: the debug agent Core attaches to an app marked
  # debug: true (/usr/bin/gdbserver), and gdb for tests/system/test_studio_debug.sh
  gdb gdbserver
  # the cross-aarch64 preset's libraries, from Debian's arm64 packages
  # (multiarch; only libraries and headers, nothing that replaces a host tool)
  libssl-dev:arm64
  # ... and the tunnel's: libevent (with its OpenSSL bufferevents), wslay,
  # protobuf-c. libevent-dev and libwslay-dev cannot be installed for two
  # architectures at once, so for arm64 only their libraries: the headers
  # are the host's (the same on both 64-bit architectures), and the
  # toolchain finds the arm64 libraries by their versioned names.
  libevent-core-2.1-7:arm64 libevent-openssl-2.1-7:arm64 libwslay1:arm64 libprotobuf-c-dev:arm64
  # the cross-armhf preset (32-bit ARM, the am335x board): its compiler and
  # the same libraries for armhf; libevent's headers differ on a 32-bit
  # architecture, so they are unpacked below rather than installed
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross libssl-dev:armhf libseccomp-dev:armhf
  libevent-core-2.1-7:armhf libevent-openssl-2.1-7:armhf libwslay1:armhf libprotobuf-c-dev:armhf
  # ... and KOS Core's, for kos-init (Core as PID 1 on qemu-arm-virt, and on
  # am335x for armhf); the shared ones go into the initramfs
  # (core/platform/mkboot.sh)
  libseccomp-dev:arm64 libcap-ng-dev:arm64 libyaml-dev:arm64 libzip-dev:arm64
  libcap-ng-dev:armhf libyaml-dev:armhf libzip-dev:armhf
  # the qemu-arm-virt platform (docs/boards.md): kos-tool bootstrap's disk
  # tools (partition table, FAT without root or loop mounts, the U-Boot
  # script), the initramfs (cpio), and kos-tool run --platform
  # qemu-arm-virt's QEMU and U-Boot (qemu-system-arm also boots the armhf
  # runtime, tests/device/test_armhf.sh). Debian's arm64 and armhf kernels
  # are not installed: the builds fetch linux-image-arm64's and
  # linux-image-armmp's packages with apt-get download and unpack them
  # under the build tree (core/platform/mkboot.sh).
  # (file: the device tests tell a FAT32 partition and an ARM zImage)
  fdisk dosfstools mtools u-boot-tools cpio qemu-system-arm u-boot-qemu file
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# The arm64 and armhf packages need dpkg to know the architectures.
for arch in arm64 armhf; do
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    echo "install-deps: adding the $arch architecture to dpkg (for the cross presets)"
    $sudo dpkg --add-architecture "$arch"
    added_arch=1
  fi
done
if [ -n "${added_arch:-}" ]; then
  $sudo apt-get update -qq
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
else
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libevent's armhf headers for the cross-armhf preset, unpacked (never
# installed: libevent-dev is for one architecture at a time) into
# build/sysroot-armhf, where cmake/toolchain-armhf.cmake looks first.
sysroot=$(dirname "$0")/../build/sysroot-armhf
if [ ! -f "$sysroot/usr/include/event2/event-config.h" ]; then
  echo "install-deps: libevent-dev:armhf's headers into build/sysroot-armhf"
  dl=$(mktemp -d)
  (cd "$dl" && apt-get download -qq libevent-dev:armhf 2>/dev/null)
  mkdir -p "$sysroot"
  dpkg-deb -x "$dl"/libevent-dev_*_armhf.deb "$sysroot"
  rm -rf "$dl"
fi

# npm packages for the browser tests, exactly as the lock file pins them
# (never a browser download: playwright-core drives Debian's chromium).
browser=$(dirname "$0")/../tests/browser
want=$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' "$browser/package.json")
have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$browser/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "install-deps: npm packages for the browser tests (tests/browser/package-lock.json)"
  (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: done"
