# Core and the self test: without device keys the Poukai self test fails,
# Core prints and records it and `kos-tool run` ends with status 5 while the
# system keeps running; a bundle with a loose private key, a symbolic link
# or a broken index is refused before anything starts (status 2); --keys
# for a system where no app takes device keys is said and ignored.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

KEYS=$WORK/device
"$KOS_TOOL" keys.generate --device --out "$KEYS" --trust "$KOS_TRUST" >/dev/null ||
  fail "keys.generate --device failed"

# No keys: the key_store check fails, the system runs on, the status says so.
start_image "$KOS_IMAGES/poukai_full.zip" --state-dir "$WORK/state"
wait_for "core: self test recorded in $WORK/state/self_test$"
wait_for "services: info: services: done$"
kill -0 "$PID" || fail "the system stopped after its self test failed"
stop_image TERM
[ "$RC" -eq 5 ] || fail "exit status $RC, expected 5 (self test failed)"
expect "key_store: warn: no keys granted: every operation will fail"
expect_not "key_store: warn: allow: no key" # said once, by the line above
expect "self_test: error: check key_store: FAILED: public key of 'identity': not found \(provision the device's keys: kos-tool run --keys DIR\)$"
expect "core: self test failed: msg0 ok \(ping\); rng ok .*; log ok .*; key_store: public key of 'identity': not found .*; ping kos_ethernet_protocol ok \(1 of 5 checks failed\)$"
expect "core: system stopped \(exit status 5\)$"
grep -qx "result failed" "$WORK/state/self_test" || fail "record: result"
grep -qx "failed 1" "$WORK/state/self_test" || fail "record: failed count"
# The same state directory, now with keys: the record is replaced.
start_image "$KOS_IMAGES/poukai_full.zip" --state-dir "$WORK/state" --keys "$KEYS"
wait_for "core: self test recorded in $WORK/state/self_test$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC with keys, expected 0"
grep -qx "result passed" "$WORK/state/self_test" || fail "record not replaced by the pass"
[ ! -e "$WORK/state/.self_test.tmp" ] || fail "a temporary record was left behind"
expect "log_server: info: persisting to /data/kos_log.store .*loaded [1-9][0-9]* records"

# Bad bundles are refused before anything starts.
bad() { # bad DESCRIPTION REGEX: kos-tool run refuses $BAD with status 2
  run_image "$KOS_IMAGES/poukai_full.zip" --keys "$BAD"
  [ "$RC" -eq 2 ] || fail "$1: exit status $RC, expected 2"
  expect "core: refusing the device key bundle $BAD: $2"
  expect_not "core: booting system"
}
BAD=$WORK/loose
cp -a "$KEYS" "$BAD"
chmod 640 "$BAD/identity.key"
bad "a group-readable private key" "private key $BAD/identity.key may be read or written by group or others \(mode 0640\)(: run chmod 600 .*)?$"
BAD=$WORK/link
cp -a "$KEYS" "$BAD"
mv "$BAD/tunnel.key" "$BAD/real.key"
ln -s real.key "$BAD/tunnel.key"
bad "a symbolic link" "$BAD/tunnel.key is not a regular file$"
BAD=$WORK/index
cp -a "$KEYS" "$BAD"
sed -i 's/^identity ed25519 identity.key/identity ed25519 ..\/identity.key/' "$BAD/bundle.txt"
bad "a path out of the bundle" "$BAD/bundle.txt:3: expected NAME ed25519\|x25519 PRIVATE-FILE\|- PUBLIC-FILE KEY-ID$"
BAD=$WORK/twice
cp -a "$KEYS" "$BAD"
grep '^identity ' "$KEYS/bundle.txt" >>"$BAD/bundle.txt"
bad "a key listed twice" "$BAD/bundle.txt: key 'identity' is listed twice$"
BAD=$WORK/missing
bad "no bundle" "key bundle $BAD: No such file or directory$"
run_image "$KOS_IMAGES/poukai_full.zip" --keys "$KEYS" --keys "$KEYS"
[ "$RC" -eq 2 ] || fail "--keys twice: exit status $RC, expected 2"
expect "kos-tool run: --keys given twice"

# A system where no app takes the device keys: said, and nobody gets them.
start_image "$KOS_IMAGES/poukai_lean.zip" --keys "$KEYS"
wait_for "core: self test recorded in "
stop_image TERM
[ "$RC" -eq 0 ] || fail "lean with --keys: exit status $RC, expected 0"
expect "core: WARNING: --keys $KEYS given, but no app of this system takes the device keys \(device_keys: true\); nobody gets them$"
expect_not "core: device keys from"
expect_well_formed
echo "PASS"
