#!/bin/bash
# Upgrades over the link (docs/upgrades.md) on sim: a provisioned device
# booting from a boot store, linked to a Studio, is pushed release 2, in
# which one app's binary changed. It fetches exactly the two blobs its
# store lacks (the manifest and that binary) by ranged GETs, stores the
# image as generation 2, reboots into it and passes its self test: Studio
# shows it running and good. Then what is refused, each before anything
# changes: release 1 again (a downgrade), an image signed by a key the
# device does not trust. Release 3, whose self test fails, boots once and
# falls back to generation 2, said on the console and shown in Studio. An
# overlay of release 2 (a config change) takes the same path, fetching only
# its manifest, and release 2 itself is refused under it.
# Last, power cuts: the device is killed at a random moment of an upgrade
# (SIGKILL to kos-tool run and so to Core) and booted again from its
# store, three times: each time it boots a verified generation, the old or
# the new, and comes back online.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app).
. "$(dirname "$0")/studio_lib.sh"
store_device
FAILING="$APPS
  self_test:
    binary: t_app
    args: [selftest, fail]"

# push IMAGE: POSTs IMAGE to the device's upgrade route; the command's id
# in CMD, the answer in $WORK/push.json.
push() {
  curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/zip" \
    --data-binary "@$1" "${URL}api/devices/$ID/upgrade" >"$WORK/push.json" ||
    die "POST api/devices/$ID/upgrade with $1 was refused"
  CMD=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/push.json")
}
# result_is STATUS: command CMD's result, as admin logs it, has STATUS
# ("ok" or a status's name) in its text.
admin_result() { grep -E "admin: (info|warn): command $CMD: " "$CON" | tail -1; }
size() { stat -c %s "$1"; }
blob_size() { # blob_size IMAGE SHA: the size of blobs/SHA in IMAGE
  python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("blobs/" + sys.argv[2]).file_size)' "$1" "$2"
}
manifest_of() { # the manifest's digest in IMAGE's image.sig
  python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("image.sig").decode().split("\n")[1].split()[1])' "$1"
}

start_studio
provision_device upgrade-1
build_system "$WORK/one.zip" upgrading "$APPS" "release: 1"
# Release 2: ticker's binary changed (a byte appended: still the same ELF).
cp "$KOS_T_APP" "$WORK/t_app2"
printf 'x' >>"$WORK/t_app2"
KOS_T_APP=$WORK/t_app2 build_system "$WORK/two.zip" upgrading "$APPS" "release: 2"
T2=$(sha256sum "$WORK/t_app2" | cut -c1-64)

# ---- release 1 from the store, online
boot_store "$WORK/one.zip"
wait_online ticker
wait_gens "running 1; 1 r1 current,good,running passed 0"

# ---- release 2 pushed: stored, rebooted into, passed
push "$WORK/two.zip"
until_ok 60 "Core storing the upgrade" in_console "core: upgrade: the image is verified and stored as generation 2 of the boot store; it is current and boots at the next reboot"
until_ok 60 "admin's result" sh -c "grep -qE 'admin: info: command $CMD: release 2: stored as generation 2' '$CON'"
until_ok 60 "generation 2 passing" in_console "core: boot store: generation 2 passed its self test"
wait_gens "running 2; 1 r1 - kept 0; 2 r2 current,good,running passed 0"
# Exactly the blobs the store lacked were fetched: the manifest and ticker's.
M2=$(manifest_of "$WORK/two.zip")
want=$(($(blob_size "$WORK/two.zip" "$M2") + $(size "$WORK/t_app2")))
admin_result | grep -q "; $want bytes fetched; rebooting into it" ||
  die "admin's result does not say $want bytes fetched: $(admin_result)"
in_console "tunnel: info: fetch of blob ${T2:0:16}\.\.\. bytes 0-[0-9]+ for .admin.: [0-9]+ bytes written; ok" || die "the tunnel does not say it fetched ticker's new blob"
# The staging folder is empty once the blobs are in.
[ -z "$(ls -A "$S/incoming")" ] || die "blobs left in $S/incoming: $(ls "$S/incoming")"
# The device registered again, with release 2's manifest.
until_ok 30 "the device's manifest being release 2's" device_is image "$M2"

# ---- a downgrade: refused before anything changes
push "$WORK/one.zip"
until_ok 30 "the downgrade refused" sh -c "grep -qE 'admin: warn: command $CMD: refused by the device: it is release 1, older than generation 2' '$CON'"
in_console "core: upgrade asked by app 'admin' refused: it is release 1, older than generation 2" ||
  die "Core does not say why it refused the downgrade"
wait_gens "running 2; 1 r1 - kept 0; 2 r2 current,good,running passed 0"

# ---- an image signed by a key the device does not trust
run 0 keys.generate --release --out "$WORK/other"
"$T" manifest.build "$WORK/system.yaml" -o "$WORK/other.zip" --key "$WORK/other/release.key" \
  --bin "t_app=$KOS_T_APP" >/dev/null 2>&1 || die "cannot build the other key's image"
push "$WORK/other.zip"
until_ok 30 "the untrusted image refused" sh -c "grep -qE 'admin: warn: command $CMD: refused by the device: signature does not verify with any trusted key' '$CON'"
[ -z "$(ls -A "$S/incoming")" ] || die "the untrusted image left blobs in $S/incoming"

# ---- release 3 fails its self test: boots once, falls back to 2
build_system "$WORK/three.zip" upgrading "$FAILING" "release: 3"
push "$WORK/three.zip"
until_ok 60 "generation 3 stored" in_console "stored as generation 3 of the boot store"
until_ok 60 "generation 3 failing" in_console "core: boot store: generation 3 failed its self test: the next boot falls back to generation 2"
until_ok 60 "generation 2 booted again" in_console "core: generation 2 of store .* verified"
wait_gens "running 2; 1 r1 - kept 0; 2 r2 current,good,running passed 0; 3 r3 - failed 0"

# ---- an overlay of release 2 (ticker's config changed): the same path
OVERLAID='  ticker:
    binary: t_app
    args: [tick, "250"]
    memory: 8MiB'
build_system "$WORK/two_o1.zip" upgrading "$OVERLAID" "release: 2" "overlay: 1"
push "$WORK/two_o1.zip"
python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if (j["release"], j["overlay"]) == (2, 1) else 1)' "$WORK/push.json" ||
  die "the push's answer does not say release 2 overlay 1: $(cat "$WORK/push.json")"
until_ok 60 "the overlay stored" in_console "core: upgrade: the image is verified and stored as generation 4 of the boot store"
in_console "admin: info: command $CMD from the server: upgrade to release 2 overlay 1 \([0-9]+ blobs\)" ||
  die "admin does not name the overlay it was offered"
until_ok 60 "admin's result naming the overlay" sh -c "grep -qE 'admin: info: command $CMD: release 2 overlay 1: stored as generation 4' '$CON'"
api "api/devices/$ID" | python3 -c 'import json, sys; u = json.load(sys.stdin)["upgrade"]; sys.exit(0 if (u["release"], u["overlay"]) == (2, 1) else 1)' ||
  die "the device's last upgrade in the API is not release 2 overlay 1"
until_ok 60 "the overlay passing" in_console "core: boot store: generation 4 passed its self test"
admin_result | grep -q "; $(blob_size "$WORK/two_o1.zip" "$(manifest_of "$WORK/two_o1.zip")") bytes fetched;" ||
  die "the overlay fetched more than its manifest: $(admin_result)"
run 0 storage.show "$S"
expect out "^  4 +upgrading +2\+1 .* current, good$"
wait_gens "running 4; 2 r2 - kept 0; 3 r3 - failed 0; 4 r2+1 current,good,running passed 0"
# Release 2 itself again, under the overlay: refused.
push "$WORK/two.zip"
until_ok 30 "release 2 refused under its overlay" sh -c "grep -qE 'admin: warn: command $CMD: refused by the device: it is release 2, older than generation 4 .*\(release 2 overlay 1\)' '$CON'"

# ---- power cuts during upgrades: a verified generation boots every time.
# Each release carries 24 MB more of ticker's binary, so that its upgrade
# lasts long enough for the cut to land in it (the cut's moment is random:
# before, during or after the store takes it, each said).
for release in 4 5 6; do
  cp "$KOS_T_APP" "$WORK/t_app$release"
  head -c 24000000 /dev/urandom >>"$WORK/t_app$release"
  KOS_T_APP=$WORK/t_app$release build_system "$WORK/r$release.zip" upgrading "$APPS" "release: $release"
  : >"$CON"
  push "$WORK/r$release.zip"
  sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
  kill -KILL "$DEV_PID"
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=
  if in_console "stored as generation"; then when="after the store took it"
  elif in_console "admin: info: command [0-9]+ from the server: upgrade"; then when="while it ran"
  else when="before the fetch began"; fi
  cp "$CON" "$WORK/cut$release.txt"
  sleep 0.3 # the cut system's processes go with Core
  boot_store
  until_ok 60 "a verified generation booting after the cut" in_console "core: generation [0-9]+ of store .* verified"
  wait_online ticker
  echo "power cut during the upgrade to release $release, $when: $(grep -oE 'core: generation [0-9]+ of store' "$CON" | tail -1) booted"
done
run 0 storage.show "$S"
echo PASS
