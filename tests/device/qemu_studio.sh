# qemu_studio.sh - a qemu-arm-virt device linked to a Studio the caller
# started (tests/system/studio_lib.sh, sourced first), for device_studio
# (test_studio.sh) and bench/powercut: the device's disk, the QEMU run,
# stopped at the end whatever happens, releases of a Poukai system in
# $WORK/system.yaml with one component's binary changed, pushing them to
# the device $ID, and power cuts.
# Needs KOS_DEVICE_COMPONENTS (the aarch64 components) and KOS_KEY.
QPID=
# stop_qemu: kos-tool run (and so QEMU) asked to stop, then killed.
stop_qemu() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$QPID" 2>/dev/null || true
  fi
  QPID=
}
trap 'stop_qemu; cleanup' EXIT
export PATH=$PATH:/usr/sbin:/sbin

# boot_disk: $WORK/disk.img under QEMU in the background (QPID), its
# console in CON (emptied first).
boot_disk() {
  : >"$CON"
  "$T" run --platform qemu-arm-virt "$WORK/disk.img" </dev/null >"$CON" 2>&1 &
  QPID=$!
}

# build_release N BYTES: release N of the system, rng_server's binary with
# BYTES random bytes appended (still the same ELF), in $WORK/rN.zip.
build_release() {
  cp "${KOS_DEVICE_COMPONENTS:?}/rng_server" "$WORK/rng_server$1"
  head -c "$2" /dev/urandom >>"$WORK/rng_server$1"
  sed -i "s/^release: .*/release: $1/" "$WORK/system.yaml"
  "$T" manifest.build "$WORK/system.yaml" -o "$WORK/r$1.zip" --key "${KOS_KEY:?}" \
    --bin-dir "$KOS_DEVICE_COMPONENTS" --bin "rng_server=$WORK/rng_server$1" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build release $1"; }
}

# bootstrap_device SYSTEM NAME: release 1 of a Poukai system SYSTEM whose
# ethernet lets the tunnel reach 10.0.2.100 (where QEMU forwards the
# Studio's device port), in $WORK/system.yaml and $WORK/r1.zip, written to
# $WORK/disk.img by bootstrap --server studio, which registers the device
# as NAME; its id in ID.
bootstrap_device() {
  cat >"$WORK/system.yaml" <<EOF
system: $1
release: 1
base: poukai
apps:
  ethernet:
    config: {allow: "tunnel=tcp:10.0.2.100:$DEVICE_PORT"}
EOF
  build_release 1 0
  run 0 bootstrap "$WORK/r1.zip" --platform qemu-arm-virt --out "$WORK/disk.img" \
    --trust "${KOS_TRUST:?}" --server studio --name "$2"
  ID=$(api api/devices | python3 -c '
import json, sys
print(next(d["id"] for d in json.load(sys.stdin)["devices"] if d["name"] == sys.argv[1]))' "$2") ||
    fail "bootstrap --server studio did not register the device"
}

# cut_and_boot WHAT: a power cut (QEMU killed), then the disk booted again
# until a verified generation boots and the device is online (WHAT begins
# the messages of a wait that fails).
cut_and_boot() {
  kill -KILL "$QPID"
  wait "$QPID" 2>/dev/null || true
  QPID=
  boot_disk
  until_ok 300 "$1: a verified generation booting after the cut" in_console "core: generation [0-9]+ of store .* verified"
  until_ok 300 "$1: the device online again" device_is state online
}

# push IMAGE: IMAGE offered to device $ID through the Studio's API.
push() {
  curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/zip" \
    --data-binary "@$1" "${URL}api/devices/$ID/upgrade" >/dev/null || die "cannot push $1"
}

# cut_when: where in the upgrade the console says the device is.
cut_when() {
  if in_console "stored as generation"; then echo "after the store took it"
  elif in_console "admin: info: command [0-9]+ from the server: upgrade"; then echo "while it ran"
  else echo "before the upgrade began"; fi
}

# booted_gen: the generation the console says booted last.
booted_gen() { tr -d '\r' <"$CON" | grep -aoE 'core: generation [0-9]+ of store' | tail -1 | grep -oE '[0-9]+' || true; }
