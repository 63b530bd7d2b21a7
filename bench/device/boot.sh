#!/bin/bash
# bench/device/boot.sh - how long a qemu-arm-virt device takes to boot the
# Poukai layer (docs/boards.md), against the same kernel booting a bare
# busybox initramfs, in the same run, alternating, RUNS times each
# (default 3). Both boot the same way: kos-tool run --platform
# qemu-arm-virt on a disk kos-tool bootstrap wrote (U-Boot, boot.scr, the
# kernel); the peer's disk is the same with busybox's initramfs in place of
# KOS's, its /init printing one line and powering off. Times, from the
# console lines as they arrive:
#   U-Boot -> ready:  U-Boot's banner to "core: system '...' ready"
#                     (busybox: to its line)
#   kernel -> ready:  U-Boot's "Starting kernel" to the same line
# Every KOS boot is a first boot, from a fresh copy of the disk. Prints each
# side's median and the ratios; TCG unless this host runs arm64 guests with
# KVM (kos-tool run says which).
#
#   bench/device/boot.sh [RUNS]      (after cmake --build --preset dev)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build/dev
T=$B/bin/kos-tool
DEV=$B/device-aarch64
RUNS=${1:-3}
TRUST=$B/kos-keys/release.pub
KEY=$B/kos-keys/release.key
CACHE=$B/bench-cache
[ -x "$T" ] && [ -x "$DEV/components/bin/msg_server" ] && [ -f "$DEV/device/qemu-arm-virt/Image" ] ||
  { echo "build first: cmake --build --preset dev (it builds the device runtime for aarch64)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-bootbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The Poukai layer as it is, for aarch64. Its tunnel and admin have no
# server to link to (none is named): they say so and stay idle.
cat >"$WORK/poukai.yaml" <<'EOF'
system: bench_poukai
base: poukai
EOF
"$T" manifest.build "$WORK/poukai.yaml" -o "$WORK/poukai.zip" --key "$KEY" \
  --bin-dir "$DEV/components/bin" >"$WORK/build.txt" 2>&1 ||
  { cat "$WORK/build.txt" >&2; exit 1; }
"$T" bootstrap "$WORK/poukai.zip" --platform qemu-arm-virt --out "$WORK/kos.img" \
  --trust "$TRUST" >"$WORK/bootstrap.txt" 2>&1 || { cat "$WORK/bootstrap.txt" >&2; exit 1; }

# The peer: Debian's static busybox for arm64, fetched once (never
# installed), in an initramfs whose /init says one line and powers off.
mkdir -p "$CACHE"
deb=$(ls "$CACHE"/busybox-static_*_arm64.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  (cd "$CACHE" && apt-get download -q busybox-static:arm64 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls "$CACHE"/busybox-static_*_arm64.deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "apt-get download busybox-static:arm64 failed (dpkg --add-architecture arm64; apt-get update)" >&2; exit 1; }
fi
dpkg-deb -x "$deb" "$WORK/bb"
S=$WORK/bbroot
mkdir -p "$S/bin" "$S/dev" "$S/proc"
cp "$WORK/bb/bin/busybox" "$S/bin/busybox"
cat >"$S/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox echo "busybox: ready"
/bin/busybox poweroff -f
EOF
chmod 0755 "$S/init"
mknod -m 0600 "$S/dev/console" c 5 1
(cd "$S" && find . | cpio -o -H newc --quiet | gzip -9) >"$WORK/bb.cpio.gz"
cp --sparse=always "$WORK/kos.img" "$WORK/bb.img"
mcopy -o -i "$WORK/bb.img@@1M" "$WORK/bb.cpio.gz" ::initramfs.cpio.gz

# boot DISK READY_REGEX: one boot; prints "uboot_to_ready kernel_to_ready"
# in seconds, and stops the device once it is ready.
boot() {
  python3 - "$T" "$1" "$2" <<'EOF'
import os, re, signal, subprocess, sys, time
tool, disk, ready = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
p = subprocess.Popen([tool, "run", "--platform", "qemu-arm-virt", disk], stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
t_uboot = t_kernel = t_ready = None
for raw in p.stdout:
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    now = time.monotonic()
    if t_uboot is None and re.match(r"^U-Boot 20\d\d\.\d\d", line):
        t_uboot = now
    elif t_kernel is None and line.startswith("Starting kernel"):
        t_kernel = now
    elif ready.search(line):
        t_ready = now
        break
p.send_signal(signal.SIGTERM)
p.stdout.close()
p.wait(timeout=120)
if None in (t_uboot, t_kernel, t_ready):
    sys.exit("the boot did not show U-Boot, the kernel and the ready line")
print(f"{t_ready - t_uboot:.3f} {t_ready - t_kernel:.3f}")
EOF
}

kos_u=() kos_k=() bb_u=() bb_k=()
for i in $(seq "$RUNS"); do
  cp --sparse=always "$WORK/kos.img" "$WORK/run.img"
  read -r u k < <(boot "$WORK/run.img" "core: system 'bench_poukai' ready")
  kos_u+=("$u") kos_k+=("$k")
  read -r u k < <(boot "$WORK/bb.img" "^busybox: ready")
  bb_u+=("$u") bb_k+=("$k")
  echo "run $i: KOS U-Boot->ready ${kos_u[-1]} s, kernel->ready ${kos_k[-1]} s; busybox ${bb_u[-1]} s, ${bb_k[-1]} s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ku=$(median "${kos_u[@]}") kk=$(median "${kos_k[@]}") bu=$(median "${bb_u[@]}") bk=$(median "${bb_k[@]}")
echo "median of $RUNS: U-Boot -> ready: KOS (Poukai) $ku s, busybox $bu s, ratio $(awk -v a="$ku" -v b="$bu" 'BEGIN {printf "%.2f", a / b}')"
echo "median of $RUNS: kernel -> ready: KOS (Poukai) $kk s, busybox $bk s, ratio $(awk -v a="$kk" -v b="$bk" 'BEGIN {printf "%.2f", a / b}')"
