# A qemu-arm-virt device linked to a local Studio (docs/boards.md, "A
# device and Studio"): the Poukai layer for aarch64, whose ethernet lets the
# tunnel reach 10.0.2.100 (where QEMU forwards the Studio's device port),
# made into a disk by kos-tool bootstrap --server studio, which registers
# the device and writes 10.0.2.100 in its bundle; booted with kos-tool run
# --platform qemu-arm-virt, the device links over TLS (the Studio's
# certificate names 10.0.2.100 too), comes online, registers its system,
# and its health shows its apps running. Then upgrades over the link
# (docs/upgrades.md): release 2, in which one component's binary changed,
# is pushed; the device fetches what its store lacks, stores it, reboots
# (kos-init resets the machine, U-Boot boots the disk again), boots
# generation 2 and passes its self test. Then two power cuts: QEMU is
# killed at a random moment of an upgrade and started again on the same
# disk, which boots a verified generation each time and comes back online.
# TCG on a shared machine is slow: the bounds are generous and nothing is
# timed.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST, KOS_KEY,
# KOS_DEVICE_COMPONENTS (the aarch64 components), KOS_HAVE_DEVICE_BUILD.
. "$(dirname "$0")/../system/studio_lib.sh"
skip() { echo "SKIP: $*" >&2; exit 77; }
[ "${KOS_HAVE_DEVICE_BUILD:-OFF}" = ON ] || skip "no device build (KOS_HAVE_DEVICE_BUILD is off)"
command -v qemu-system-aarch64 >/dev/null ||
  skip "qemu-system-aarch64 is missing: install the Debian package qemu-system-arm (scripts/install-deps.sh)"
. "$(dirname "$0")/qemu_studio.sh"

start_studio
bootstrap_device qemu_studio qemu-1
# The bundle on the data partition names the address the guest reaches.
off=$(sfdisk -J "$WORK/disk.img" | python3 -c 'import json, sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][1]["start"] * 512)')
dd if="$WORK/disk.img" of="$WORK/data.img" bs=1M iflag=skip_bytes skip="$off" status=none
debugfs -R "cat /keys/server.txt" "$WORK/data.img" >"$WORK/server.txt" 2>/dev/null ||
  fail "cannot read the bundle's server.txt from the data partition"
grep -qx "address 10.0.2.100:$DEVICE_PORT" "$WORK/server.txt" ||
  fail "the bundle's server.txt: $(cat "$WORK/server.txt")"

boot_disk
until_ok 180 "the device online in Studio" device_is state online
until_ok 60 "the device registering its system" grep -q "device ${ID:0:16} registered: system 'qemu_studio'" "$DATA/server.log"
in_console "tunnel: info: link up to 10\.0\.2\.100:$DEVICE_PORT " || die "the tunnel did not say it linked to 10.0.2.100"
until_ok 60 "the device's health with its apps running" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | python3 -c '
import json, sys
h = json.load(sys.stdin).get(\"health\") or {}
apps = {a[\"name\"]: a[\"state\"] for a in h.get(\"apps\", [])}
sys.exit(0 if all(apps.get(n, \"\").startswith(\"running\") for n in (\"tunnel\", \"admin\", \"log_server\")) else 1)'"

# ---- an upgrade over the link: release 2, rng_server's binary changed
running_gen() { # the generation the device's health says runs
  api "api/devices/$ID" | python3 -c 'import json, sys; print(((json.load(sys.stdin).get("health") or {}).get("store") or {}).get("running", 0))'
}
build_release 2 1000
push "$WORK/r2.zip"
until_ok 300 "generation 2 stored" in_console "core: upgrade: the image is verified and stored as generation 2 of the boot store"
until_ok 300 "generation 2 booting after the reboot" in_console "core: boot store: generation 2 is new"
until_ok 300 "generation 2 passing its self test" in_console "core: boot store: generation 2 passed its self test"
running_is() { [ "$(running_gen)" = "$1" ]; }
until_ok 120 "Studio showing generation 2 running" running_is 2
in_console "U-Boot .*" || die "no U-Boot on the console"

# ---- power cuts: QEMU killed during an upgrade, booted again
for release in 3 4; do
  build_release "$release" 16000000
  : >"$CON"
  push "$WORK/r$release.zip"
  until_ok 120 "the upgrade to release $release starting" in_console "admin: info: command [0-9]+ from the server: upgrade to release $release"
  sleep "0.$((RANDOM % 10))"
  when=$(cut_when)
  cut_and_boot "release $release"
  echo "power cut during the upgrade to release $release, $when: generation $(booted_gen) booted"
done
stop_qemu
echo PASS
