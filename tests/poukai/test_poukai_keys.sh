# The Poukai layer with a device key bundle (kos-tool run --keys): Core
# hands the bundle to key_store only; key_store signs, verifies and agrees
# for the apps the manifest allows, refuses the others, and no reply or
# console line ever carries private key bytes; signatures verify with
# openssl and the derived key matches openssl's X25519 + HKDF; every
# service answers through its protocol; the self test passes and is
# recorded; an app without reports_self_test cannot report.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"
export LC_ALL=C # bytewise comparison of hex strings

KEYS=$WORK/device
"$KOS_TOOL" keys.generate --device --out "$KEYS" --trust "$KOS_TRUST" >/dev/null ||
  fail "keys.generate --device failed"

start_image "$KOS_IMAGES/poukai_full.zip" --keys "$KEYS" --state-dir "$WORK/state"
wait_for "client: info: keys-client: done$"
wait_for "nokeys: info: keys-denied: done$"
wait_for "stranger: info: keys-stranger: done$"
wait_for "abuser: info: keys-abuse: done$"
wait_for "services: info: services: done$"
wait_for "forger: info: forge: done$"
wait_for "core: self test recorded in "
wait_for "core: system 'poukai_full' ready: 14 processes in "

# Key material is wiped once used: key_store's memory (read while it runs,
# where this host lets us: it is not dumpable) holds neither the key files'
# text nor their DER form; OpenSSL's key objects hold the raw keys only.
ks_pid=$(app_pid key_store) || fail "key_store is not running"
# (the public key key_store keeps is the scan's control: it must be found)
needles="hex:$(openssl pkey -pubin -in "$KEYS/identity.pub" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')"
for k in identity tunnel; do
  needles+=" txt:$(sed -n 2p "$KEYS/$k.key") hex:$(openssl pkey -in "$KEYS/$k.key" -outform DER | od -An -tx1 | tr -d ' \n')"
done
scan=$(python3 "$(dirname "$0")/memscan.py" $ks_pid $needles)
case "$scan" in
clean*) echo "key_store's memory scanned (${scan#clean } bytes): no key file text or DER" ;;
skip*) echo "note: cannot read key_store's memory here (${scan#skip }); the unit tests check the wiping" ;;
*) fail "key material left in key_store's memory: $scan" ;;
esac

# A restarted key_store gets the same keys again (Core keeps the bundle open).
kill -KILL "$ks_pid"
for _ in $(seq 300); do
  [ "$(grep -c "key_store: info: key 'identity': ed25519 private" "$OUT")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c "key_store: info: key 'trusted_0': ed25519 public" "$OUT")" -eq 2 ] ||
  fail "key_store did not load its keys again after a restart"
expect "core: app 'key_store' killed by signal 9 \(Killed\) after [0-9]+ ms; restarting it"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"

# Core: the bundle goes to key_store, read-only, and is named.
expect_count 1 "core: device keys from "

ids=$(awk '$1 != "#" && $1 != "format" {print $5}' "$KEYS/bundle.txt")
expect "core: device keys from $KEYS for app 'key_store', read-only: identity \(ed25519 private [0-9a-f]{16}\), tunnel \(x25519 private [0-9a-f]{16}\), trusted_0 \(ed25519 public [0-9a-f]{16}\)$"
for id in $ids; do expect "core: device keys from .*$id"; done
# key_store names each key by the same id as Core and the bundle's index.
while read -r name type _ _ id; do
  case $name in "#"*|format) continue ;; esac
  kind=private; [ "$name" = "${name#trusted_}" ] || kind=public
  expect "key_store: info: key '$name': $type $kind $id$"
done <"$KEYS/bundle.txt"
expect "key_store: info: key 'tunnel': x25519 private [0-9a-f]{16}$"
expect_not "key_store: (warn|error): .*no keys granted"
# Its secure heap is locked in memory (only it may lock memory: see
# hostile_hostile's mlock and mmap_locked).
expect "key_store: info: secure heap of 64 KiB locked in memory$"

# The layer's settings, changed by name.
expect "log_server: info: serving kos_log_protocol: ring 4096 records, rate 100/s, burst 200$"
expect "key_store: warn: allow: no key 'ghost' \(allowed to 'client'\)$"

# Public keys are the bundle's.
raw_pub() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n'; }
ident=$(raw_pub "$KEYS/identity.pub")
tun=$(raw_pub "$KEYS/tunnel.pub")
rel=$(raw_pub "$KOS_TRUST")
expect "client: info: public identity: ed25519 $ident$"
expect "client: info: public tunnel: x25519 $tun$"
expect "client: info: public trusted_0: ed25519 $rel$"

# A pure signature verifies with openssl against identity.pub.
sig=$(sed -nE 's/.*client: info: sign pure: ok ([0-9a-f]{128})$/\1/p' "$OUT")
[ -n "$sig" ] || fail "no pure signature"
printf 'KOS system test message' >"$WORK/msg"
echo "$sig" | xxd -r -p >"$WORK/sig"
openssl pkeyutl -verify -pubin -inkey "$KEYS/identity.pub" -rawin -in "$WORK/msg" \
  -sigfile "$WORK/sig" >/dev/null || fail "openssl does not verify key_store's signature"
printf 'KOS system test messagE' >"$WORK/msg2"
! openssl pkeyutl -verify -pubin -inkey "$KEYS/identity.pub" -rawin -in "$WORK/msg2" \
  -sigfile "$WORK/sig" >/dev/null 2>&1 || fail "openssl verifies a signature of another message"
# A digest-mode signature covers "KOS keystore SHA-512\n" || digest.
dsig=$(sed -nE 's/.*client: info: sign digest: ok ([0-9a-f]{128})$/\1/p' "$OUT")
{ printf 'KOS keystore SHA-512\n'; head -c 64 /dev/zero | tr '\0' 'Z'; } >"$WORK/dmsg"
echo "$dsig" | xxd -r -p >"$WORK/dsig"
openssl pkeyutl -verify -pubin -inkey "$KEYS/identity.pub" -rawin -in "$WORK/dmsg" \
  -sigfile "$WORK/dsig" >/dev/null || fail "openssl does not verify the digest-mode signature"
expect "client: info: verify pure: ok valid$"
expect "client: info: verify tampered: ok invalid$"
expect "client: info: verify with the release key: ok invalid$"
expect "client: info: verify digest: ok valid$"

# Agreement: X25519 with RFC 7748's "Bob", then HKDF-SHA256 with info =
# "KOS keystore X25519 v1\n" || smaller public key || larger || label.
bob=5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb
bob_pub=de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f
echo "302e020100300506032b656e04220420$bob" | xxd -r -p >"$WORK/bob.der"
openssl pkey -inform DER -in "$WORK/bob.der" -out "$WORK/bob.pem"
secret=$(openssl pkeyutl -derive -inkey "$WORK/bob.pem" -peerkey "$KEYS/tunnel.pub" |
  od -An -tx1 | tr -d ' \n')
if [[ "$tun" < "$bob_pub" ]]; then lo=$tun hi=$bob_pub; else lo=$bob_pub hi=$tun; fi
info=$(printf 'KOS keystore X25519 v1\n' | od -An -tx1 | tr -d ' \n')$lo$hi$(printf 'system test' | od -An -tx1 | tr -d ' \n')
want=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "hexkey:$secret" \
  -kdfopt "hexinfo:$info" HKDF | tr -d ':\n' | tr 'A-F' 'a-f')
expect "client: info: agree: ok $want$"
expect_not "client: info: agree: ok $secret$" # never the raw shared secret
expect "client: info: agree with a low-order point: invalid argument$"

# Refusals: what the manifest does not allow, a key not held, no grant.
expect "client: info: refused: sign with tunnel: unauthorized$"
expect "client: info: refused: agree with identity: unauthorized$"
expect "client: info: refused: sign with trusted_0: unauthorized$"
expect "client: info: refused: sign with ghost: not found$"
expect "client: info: refused: verify with tunnel: unauthorized invalid$"
expect "nokeys: info: public identity: unauthorized$"
expect "nokeys: info: sign with identity: unauthorized$"
expect "nokeys: info: agree with tunnel: unauthorized$"
expect "stranger: info: open kos_keystore_protocol: unauthorized$"
expect "msg0: denied: app 'stranger' requested 'kos_keystore_protocol'"
expect "key_store: warn: denied: '(client|nokeys|abuser)' may not "
# Each app's denials are logged within a budget of its own (10 at once,
# then one a second): the abuser's flood cannot hide the others'.
expect_within_budget "key_store: warn: denied: 'abuser'" 10
expect "key_store: warn: denied: 'nokeys' may not "
expect "key_store: info: stopping: [0-9]+ operations, [0-9]+ denied, [0-9]+ failed$"

# Abuse: every malformed request refused, the server still answers.
expect "abuser: info: abuse: empty name: protocol error$"
expect "abuser: info: abuse: long name: protocol error$"
expect "abuser: info: abuse: bad name: invalid argument$"
expect "abuser: info: abuse: name past the payload: protocol error$"
expect "abuser: info: abuse: no payload: protocol error$"
expect "abuser: info: abuse: a token passed: protocol error$"
expect "abuser: info: abuse: label 0 key identity param 0 len 9: unsupported$"
expect "abuser: info: abuse: label 6 key identity param 0 len 9: unsupported$"
expect "abuser: info: abuse: label 5 key identity param 0 len 9: not found$" # no item of that name
expect "abuser: info: abuse reply: label 4 key tunnel param 32 len 64: param 0 payload [0-9a-f]{64}$"
expect "abuser: info: abuse: server still answers: ok$"
expect_not "key_store: error"

# No reply and no console line holds 8 bytes in a row of a private key.
for k in identity tunnel; do
  priv=$(openssl pkey -in "$KEYS/$k.key" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
  [ ${#priv} -eq 64 ] || fail "cannot read $k.key"
  for off in $(seq 0 2 48); do
    ! grep -q "${priv:$off:16}" "$OUT" || fail "private bytes of $k.key on the console"
  done
done

# The other services, through their protocols, and what the manifest forbids.
expect "services: info: rng: reads differ: yes; served [0-9]+ bytes$"
expect "services: info: log: write: ok$"
expect "services: info: log: read back: ok found$"
expect "services: info: log: read self_test's records: unauthorized$"
expect "services: info: request kos_keystore_protocol: unauthorized$"
expect "services: info: publish kos_log_protocol: unauthorized$"
expect "msg0: denied: app 'services' tried to publish 'kos_log_protocol'"

# The self test passed, was printed and recorded; nobody else may report.
expect "self_test: info: check msg0: ok \(ping\)$"
expect "self_test: info: check rng: ok \(reads differ, monobit [0-9]+/20000\)$"
expect "self_test: info: check log: ok \(record [0-9]+ read back\)$"
expect "self_test: info: check key_store: ok \('identity' ${ident:0:16}\.\.\. signs and verifies\)$"
expect "core: self test passed: msg0 ok \(ping\); rng ok .*; log ok .*; key_store ok .*; ping kos_ethernet_protocol ok \(5 checks\)$"
expect_count 1 "core: self test (passed|failed)"
expect "core: app 'forger' sent a self-test report, but its manifest entry does not say reports_self_test: true; ignoring it and closing its control channel$"
expect_not "forged: all is well"
rec=$WORK/state/self_test
[ -f "$rec" ] || fail "no self-test record"
grep -qx "format 1" "$rec" || fail "record: no format line"
grep -qx "system poukai_full" "$rec" || fail "record: system"
grep -qx "result passed" "$rec" || fail "record: result"
grep -qx "checks 5" "$rec" || fail "record: checks"
grep -qx "failed 0" "$rec" || fail "record: failed"
grep -qx "app self_test" "$rec" || fail "record: app"
grep -qE "^manifest [0-9a-f]{64}$" "$rec" || fail "record: manifest digest"
grep -qx "signer $(sed -nE 's/.*signed by release key ([0-9a-f]{16})$/\1/p' "$OUT" | head -1)" "$rec" ||
  fail "record: signer"
expect "core: system stopped \(exit status 0\)$"
expect_well_formed
expect_not "does not trust release key"

# A bundle made for another release key boots an image signed by this one
# (trusted through --trust), and Core warns that the device would refuse
# releases signed by it.
"$KOS_TOOL" keys.generate --release --out "$WORK/other" >/dev/null || fail "keys.generate --release"
"$KOS_TOOL" keys.generate --device --out "$WORK/device2" --trust "$WORK/other/release.pub" \
  >/dev/null || fail "keys.generate --device --trust other"
signer=$(sed -nE 's/.*signed by release key ([0-9a-f]{16})$/\1/p' "$OUT" | head -1)
start_image "$KOS_IMAGES/poukai_full.zip" --keys "$WORK/device2"
wait_for "core: system 'poukai_full' ready"
stop_image TERM
expect "core: WARNING: the device key bundle $WORK/device2 does not trust release key $signer, which signed this image"
echo "PASS"
