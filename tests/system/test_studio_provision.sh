#!/bin/bash
# Provisioning with the Studio server (docs/link.md, "Provisioning"):
# kos-tool keys.generate --device --server studio makes the bundle, has the
# running Studio register the identity key, and adds the device's
# certificate (which chains to the server's CA, under CN = the device id),
# the CA and the server's address, with their index lines. When Studio is
# not running, or refuses, no bundle is left.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST (a release public key).
. "$(dirname "$0")/studio_lib.sh"
TRUST=${KOS_TRUST:?}

start_studio

# ---- a device, named
run 0 keys.generate --device --out "$WORK/dev" --trust "$TRUST" --server studio --name "bench <1>"
expect out "^registered with Studio as 'bench <1>' \(device id [0-9a-f]{64}\); it connects to 127\.0\.0\.1:$DEVICE_PORT$"
expect out "^identity_cert x509 - identity\.crt [0-9a-f]{16}$"
D=$WORK/dev
for f in identity.crt server_ca.crt server.txt; do
  [ -f "$D/$f" ] || fail "the bundle has no $f"
  [ "$(mode "$D/$f")" = 644 ] || fail "$f has mode $(mode "$D/$f")"
done
[ "$(mode "$D/identity.key")" = 600 ] || fail "identity.key has mode $(mode "$D/identity.key")"

# The certificate chains to the server's CA, certifies the identity key,
# and its subject is CN = the device id (the SHA-256 of the raw key).
openssl verify -CAfile "$D/server_ca.crt" "$D/identity.crt" >"$WORK/verify" 2>&1 ||
  { cat "$WORK/verify" >&2; fail "openssl verify: the device certificate does not chain to server_ca.crt"; }
openssl verify -CAfile "$DATA/ca.crt" "$D/identity.crt" >/dev/null 2>&1 ||
  fail "the device certificate does not chain to the server's own CA"
cmp -s "$D/server_ca.crt" "$DATA/ca.crt" || fail "server_ca.crt is not the server's CA certificate"
ID=$(openssl pkey -pubin -in "$D/identity.pub" -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
subject=$(openssl x509 -in "$D/identity.crt" -noout -subject)
[ "$subject" = "subject=CN = $ID" ] || fail "the certificate's subject is '$subject', not CN = $ID"
[ "$(openssl x509 -in "$D/identity.crt" -noout -pubkey)" = "$(cat "$D/identity.pub")" ] ||
  fail "the certificate is not for the bundle's identity key"
openssl x509 -in "$D/identity.crt" -noout -text | grep -q "Version: 3" || fail "not X.509 v3"
# The index: the three new lines, each file's key id.
KEY_ID=${ID:0:16}
CA_ID=$(openssl pkey -pubin -in <(openssl x509 -in "$D/server_ca.crt" -noout -pubkey) -outform DER |
  tail -c 32 | sha256sum | cut -c1-16)
grep -qx "identity_cert x509 - identity.crt $KEY_ID" "$D/bundle.txt" || fail "no identity_cert line: $(cat "$D/bundle.txt")"
grep -qx "server_ca x509 - server_ca.crt $CA_ID" "$D/bundle.txt" || fail "no server_ca line"
grep -qx "server text - server.txt -" "$D/bundle.txt" || fail "no server line"
grep -qx "identity ed25519 identity.key identity.pub $KEY_ID" "$D/bundle.txt" || fail "the identity line changed"
[ "$(cat "$D/server.txt")" = "$(printf 'address 127.0.0.1:%s\nname studio' "$DEVICE_PORT")" ] ||
  fail "server.txt: $(cat "$D/server.txt")"

# The server knows it, by that id and name, as registered.
curl -sf -H "Authorization: Bearer $SECRET" "${URL}api/devices/$ID" >"$WORK/dev.json" ||
  fail "GET /api/devices/$ID"
python3 - "$WORK/dev.json" "$ID" <<'EOF' || fail "the server's record of the device: $(cat "$WORK/dev.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["id"] == sys.argv[2] and d["key_id"] == sys.argv[2][:16], d
assert d["name"] == "bench <1>" and d["state"] == "registered", d
assert d["last_seen"] is None and d["health"] is None, d
EOF
run 0 server.status
expect out "^1 device: 0 online, 0 offline, 1 registered \(never connected\), 0 revoked$"

# ---- without --name: device-KEYID; --name=VALUE works as --name VALUE
run 0 keys.generate --device --out "$WORK/dev2" --server=studio
expect out "^registered with Studio as 'device-[0-9a-f]{16}'"
expect out "note: no --trust key given"
run 0 keys.generate --device --out "$WORK/dev3" --server studio --name=lab
expect out "^registered with Studio as 'lab'"

# ---- Studio refuses (a name it does not take): no bundle is left
mkdir "$WORK/empty"
run 1 keys.generate --device --out "$WORK/empty" --server studio --name "$(printf 'a\tb')"
expect err "^kos-tool keys.generate: Studio refused the device: \"name\" must be a string of 1 to 64 bytes without control characters; no bundle was left in $WORK/empty$"
[ -d "$WORK/empty" ] && [ -z "$(ls -A "$WORK/empty")" ] || fail "a refused bundle left files: $(ls -A "$WORK/empty")"

# ---- usage errors
run 2 keys.generate --release --out "$WORK/r" --server studio
expect err "^kos-tool keys.generate: --server goes with --device"
run 2 keys.generate --device --out "$WORK/x" --name a
expect err "^kos-tool keys.generate: --name goes with --server"
run 2 keys.generate --device --out "$WORK/x" --reach 10.0.2.100
expect err "^kos-tool keys.generate: --reach goes with --server"
for bad in "10.0.2.100:7443" "-x" "a b" "$(printf 'x%.0s' $(seq 64))"; do
  run 2 keys.generate --device --out "$WORK/x" --server studio --reach "$bad"
  expect err "^kos-tool keys.generate: --reach takes an IP address or a host name, not '"
done
[ ! -e "$WORK/x" ] || fail "a refused keys.generate left $WORK/x"
run 2 keys.generate --device --out "$WORK/x" --server fleet
expect err "^kos-tool keys.generate: --server takes studio \(the local Studio server\), not 'fleet'"
run 2 keys.generate --device --out "$WORK/x" --server https://fleet.example --name a
expect err "Fleet servers \(--server https://...\) are not supported yet"
[ ! -e "$WORK/x" ] || fail "a usage error wrote a bundle"

# ---- Studio not running: a clear error, and no bundle at all
run 0 server.stop
run 1 keys.generate --device --out "$WORK/dev4" --trust "$TRUST" --server studio
expect err "^kos-tool keys.generate: Studio is not running \(no runtime file in $DATA\): start it with kos-tool server.start; no bundle was written$"
[ ! -e "$WORK/dev4" ] || fail "keys.generate left $WORK/dev4 without a server"

# ---- the devices are still there after a restart
start_studio
run 0 server.status
expect out "^3 devices: 0 online, 0 offline, 3 registered \(never connected\), 0 revoked$"

# ---- --reach: the bundle names the host the device reaches Studio at, with
# Studio's port.
run 0 keys.generate --device --out "$WORK/q" --trust "$KOS_TRUST" --server studio --reach 10.0.2.100
expect out "it connects to 10\.0\.2\.100:$DEVICE_PORT$"
[ "$(cat "$WORK/q/server.txt")" = "$(printf 'address 10.0.2.100:%s\nname studio' "$DEVICE_PORT")" ] ||
  fail "server.txt with --reach: $(cat "$WORK/q/server.txt")"
echo PASS
