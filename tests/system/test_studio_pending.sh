#!/bin/bash
# Pending devices with every real piece (docs/studio.md "A device that
# waits for approval", docs/link.md "Pending devices"): a bundle made with
# keys.generate --pending registers nothing and holds the device's own
# self-signed certificate; the device, booted on sim, connects and is
# recorded as pending (its key, subject, address, attempts) while its
# tunnel says it waits for approval and retries, and nothing of it is
# stored; the API's refusals (no secret, another origin, a bad id or body,
# an unknown or registered device); approved, it links on a next attempt and
# registers; a second one rejected is revoked and refused from then on; a
# flood of unknown keys leaves at most 100 pending records.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app).
. "$(dirname "$0")/studio_lib.sh"
trap 'stop_device; cleanup' EXIT
# The ticker, and a tunnel that tries again within 2 s at most.
APPS='  ticker:
    binary: t_app
    args: [tick, "200"]
    memory: 8MiB
  tunnel:
    config: {reconnect_max: 2s}'

# status METHOD PATH [CURL ARGS...]: the HTTP status of an API request with
# the secret (its body in $WORK/body).
status() {
  local m=$1 p=$2
  shift 2
  curl -s -o "$WORK/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $SECRET" "$@" "$URL$p"
}
# want_status CODE REGEX METHOD PATH [CURL ARGS...]
want_status() {
  local code=$1 re=$2 got
  shift 2
  got=$(status "$@")
  [ "$got" = "$code" ] || fail "$1 $2: status $got, expected $code: $(cat "$WORK/body")"
  grep -Eq -- "$re" "$WORK/body" || fail "$1 $2: '$(cat "$WORK/body")' does not match '$re'"
}
# pending_bundle DIR NAME: a --pending bundle in DIR offering NAME; sets ID.
pending_bundle() {
  run 0 keys.generate --device --out "$1" --trust "${KOS_TRUST:?}" --server studio --name "$2" --pending
  ID=$(sed -nE 's/.*\(device id ([0-9a-f]{64})\).*/\1/p' "$WORK/out")
  [ -n "$ID" ] || fail "no device id in keys.generate's output"
}
field() { api "api/devices/$ID" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

start_studio

# ---- the bundle: not registered, its own certificate
run 2 keys.generate --device --out "$WORK/nope" --pending
expect err "--pending goes with --server"
pending_bundle "$WORK/dev" bench-p
expect out "^not registered \(device id $ID\): when it first connects to 127.0.0.1:$DEVICE_PORT, approve it in Studio's device list$"
expect out "^identity_cert x509 - identity.crt "
subject=$(openssl x509 -in "$WORK/dev/identity.crt" -noout -subject -nameopt compat)
issuer=$(openssl x509 -in "$WORK/dev/identity.crt" -noout -issuer -nameopt compat)
[ "${subject#subject=}" = "${issuer#issuer=}" ] || fail "the certificate is not self-signed: $subject / $issuer"
case "$subject" in *"CN=$ID"*"name=bench-p"*) ;; *) fail "the certificate's subject: $subject" ;; esac
cmp -s "$WORK/dev/server_ca.crt" "$DATA/ca.crt" || fail "the bundle's server_ca is not Studio's CA"
want_status 404 "no device $ID" GET "api/devices/$ID"

# ---- the device connects: pending, told so, nothing of it stored
build_system "$WORK/device.zip" studio_device "$APPS"
boot_device "$WORK/device.zip"
until_ok 60 "the device shown pending" device_is state pending
until_ok 30 "the tunnel saying it waits for approval" \
  in_console "tunnel: warn: link to 127.0.0.1:$DEVICE_PORT failed: the server answered the upgrade with HTTP 202: waiting for approval in Studio; trying again in"
[ "$(field name)" = bench-p ] || fail "the pending device's name: $(field name)"
[ "$(field address)" = 127.0.0.1 ] || fail "the pending device's address: $(field address)"
case "$(field subject)" in *"CN=$ID"*) ;; *) fail "the pending device's subject: $(field subject)" ;; esac
until_ok 30 "the device trying again" sh -c "[ \$(curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"attempts\"])') -ge 3 ]"
[ "$(grep -c 'waiting for approval in Studio' "$CON")" -eq 1 ] || die "the tunnel said it waits more than once"
grep -q "kos-server: device ${ID:0:16} from 127.0.0.1 is waiting for approval" "$DATA/server.log" ||
  fail "the server's log does not say the device waits"
api api/devices | python3 -c 'import json, sys; d = [x for x in json.load(sys.stdin)["devices"] if x["id"] == sys.argv[1]]; sys.exit(0 if len(d) == 1 and d[0]["state"] == "pending" else 1)' "$ID" ||
  fail "the device list does not show the pending device once"
want_status 404 "no device" GET "api/devices/$ID/logs"
# kos-tool: counted as pending; never taken for a device to talk to.
run 0 server.status
expect out ", 1 pending \(waiting for approval in the web UI\)$"
echo apps | "$T" toolbox.remote_shell bench-p >"$WORK/out" 2>"$WORK/err" && fail "the shell took a pending device"
expect err "Studio knows no device 'bench-p'"
in_console "admin: info: registered with the server" && die "admin registered while pending"
want_status 404 "no device" POST "api/devices/$ID/commands" -H "Content-Type: application/json" -d '{"reboot": true}'

# ---- what the API refuses
got=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST "${URL}api/devices/$ID/approve")
[ "$got" = 401 ] || fail "approve without the secret: $got"
want_status 403 "" POST "api/devices/$ID/approve" -H "Origin: http://evil.example"
want_status 404 "a device id is 64 lowercase hex digits" POST "api/devices/XYZ/approve"
want_status 405 "POST only" GET "api/devices/$ID/approve"
want_status 400 '\\"name\\" must be a string' POST "api/devices/$ID/approve" -H "Content-Type: application/json" -d '{"name": 5}'
want_status 400 'an approval takes' POST "api/devices/$ID/approve" -H "Content-Type: application/json" -d '{"nmae": "x"}'
want_status 400 'a rejection takes no body' POST "api/devices/$ID/reject" -H "Content-Type: application/json" -d '{"name": "x"}'
want_status 404 "no pending device 0{64}" POST "api/devices/$(printf '0%.0s' $(seq 64))/approve"
device_is state pending || fail "a refused request changed the device"

# ---- approved: it links on a next attempt, registers, logs
want_status 200 '"state":"registered"' POST "api/devices/$ID/approve"
grep -q '"name":"bench-p"' "$WORK/body" || fail "approved under another name: $(cat "$WORK/body")"
want_status 409 "is not pending: it is" POST "api/devices/$ID/approve"
want_status 409 "is not pending: it is" POST "api/devices/$ID/reject"
wait_online ticker
until_ok 30 "the ticker's records stored" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID/logs' | grep -q 'tick'"
stop_device
mv "$WORK/dev" "$WORK/dev-approved"

# ---- rejected: revoked, refused from then on
pending_bundle "$WORK/dev" bench-r
boot_device "$WORK/device.zip"
until_ok 60 "the second device shown pending" device_is state pending
want_status 200 '"state":"revoked"' POST "api/devices/$ID/reject"
until_ok 30 "the tunnel saying it is refused" in_console "tunnel: warn: the server 127.0.0.1:$DEVICE_PORT refused this device"
device_is state revoked || die "the rejected device is not revoked"
api api/devices | python3 -c 'import json, sys; sys.exit(1 if [x for x in json.load(sys.stdin)["devices"] if x["state"] == "pending"] else 0)' ||
  fail "a pending device is still listed"
stop_device

# ---- a flood of unknown keys: at most 100 recorded, the page's list bounded
n=$(python3 "$(dirname "$0")/pending_flood.py" "$DEVICE_PORT" "$DATA/ca.crt" 130)
[ "$n" -eq 130 ] || fail "only $n of 130 unknown keys were answered 'waiting for approval'"
count=$(api api/devices | python3 -c 'import json, sys; print(len([x for x in json.load(sys.stdin)["devices"] if x["state"] == "pending"]))')
[ "$count" -eq 100 ] || fail "$count pending devices listed after a flood of 130 keys; at most 100"
rows=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from pending").fetchone()[0])' "$DATA/studio.db")
[ "$rows" -le 100 ] || fail "the database holds $rows pending rows"
logged=$(grep -c "is waiting for approval" "$DATA/server.log")
[ "$logged" -le 100 ] || fail "the server's log has $logged lines about pending devices; at most 100"
grep -q "new devices waited for approval since the server started: the next are not logged" "$DATA/server.log" ||
  fail "the server's log does not say it stopped logging pending devices"
# Studio still answers, and the approved device is still known.
api api/devices | grep -q '"name":"bench-p"' || fail "the approved device is gone after the flood"
echo PASS
