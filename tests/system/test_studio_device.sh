#!/bin/bash
# The device story with every real piece (docs/studio.md, docs/link.md): a
# Studio, a device provisioned for it with keys.generate --server studio, a
# Poukai system on sim whose tunnel links over TLS with the device's key in
# key_store and whose admin registers. The server shows the device online
# with its system, image and health, and its console lines as log records;
# a command restarts an app on the device; the server stopped and started
# again loses nothing the device printed meanwhile (admin's offline buffer);
# a revoked device is cut off and refused.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app). The set-up is studio_device_lib.sh's.
. "$(dirname "$0")/studio_lib.sh"
. "$(dirname "$0")/studio_device_lib.sh"

start_studio
provision_device bench1
build_device "$WORK/device.zip"
start_device "$WORK/device.zip"

# ---- online: linked, registered, with its system, image and health
until_ok 60 "the device shown online" device_is state online
until_ok 30 "the tunnel saying its link is up as device $ID" \
  in_console "tunnel: info: link up to 127\.0\.0\.1:$DEVICE_PORT \(kos-server/[^)]*\) as device $ID$"
until_ok 30 "admin saying it registered" \
  in_console "admin: info: registered with the server as 'bench1' \(device ${ID:0:16}\)$"
until_ok 30 "the device's health with its apps" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID' | grep -q '\"ticker\"'"
api "api/devices/$ID" >"$WORK/dev.json"
python3 - "$WORK/dev.json" "$ID" <<'EOF' || die "the device's record: $(cat "$WORK/dev.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["id"] == sys.argv[2] and d["name"] == "bench1", d
assert d["state"] == "online" and d["system"] == "studio_device" and d["platform"] == "sim", d
assert len(d["image"]) == 64 and len(d["signer"]) == 16, d
apps = {a["name"]: a for a in d["health"]["apps"]}
for name in ("ticker", "tunnel", "admin", "key_store", "log_server", "msg0"):
    assert name in apps, (name, sorted(apps))
assert apps["ticker"]["state"].startswith("running"), apps["ticker"]
EOF
grep -q "\"signer\": *\"$(sed -nE 's/.*signed by release key ([0-9a-f]{16}).*/\1/p' "$CON" | head -1)\"" "$WORK/dev.json" ||
  die "the server's signer is not the one Core verified"

# ---- console lines reach the server as log records
until_ok 30 "the ticker's lines among the device's logs" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID/logs?limit=1000' | grep -qE '\"app\": *\"ticker\", *\"level\": *\"info\", *\"text\": *\"(info: )?tick [0-9]'"

# ---- a command: restart the ticker; the result comes back as an event
curl -sN -H "Authorization: Bearer $SECRET" "${URL}api/events?device=$ID" >"$WORK/events.txt" &
EV=$!
sleep 0.5
curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/json" \
  -d '{"restart_app": "ticker"}' "${URL}api/devices/$ID/commands" >"$WORK/cmd.json" ||
  die "POST commands"
CMD=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/cmd.json")
until_ok 30 "the command's result event" grep -q "\"id\": *$CMD, *\"status\": *0" "$WORK/events.txt"
kill "$EV" 2>/dev/null || true
until_ok 10 "admin taking the command" in_console "admin: info: command $CMD from the server: restart app 'ticker'$"
until_ok 10 "Core restarting the ticker" \
  in_console "core: app 'ticker' stopped for the restart app 'admin' asked for; starting it again$"

# ---- the server stops and comes back: the device links again by itself,
# and the lines it printed meanwhile arrive, none lost.
run 0 server.stop
until_ok 30 "the tunnel noticing the server gone" in_console "tunnel: warn: link to 127\.0\.0\.1:$DEVICE_PORT ended: "
mark=$(grep -cE "ticker: info: tick [0-9]+$" "$CON")
until_ok 30 "more ticks while the server is away" sh -c "[ \$(grep -cE 'ticker: info: tick [0-9]+$' '$CON') -ge $((mark + 10)) ]"
away=$(grep -E "ticker: info: tick [0-9]+$" "$CON" | tail -1 | sed -E 's/.*tick //')
run 0 server.start --port 0 --device-port "$DEVICE_PORT"
URL=$(rt url)
SECRET=$(rt secret)
until_ok 120 "the device online again" device_is state online
until_ok 60 "the tick printed while the server was away" sh -c "curl -sf -H 'Authorization: Bearer $SECRET' '${URL}api/devices/$ID/logs?limit=1000' | grep -qE '\"text\": *\"(info: )?tick $away\"'"
device_is logs_dropped 0 || die "the server says the device dropped logs: $(api "api/devices/$ID")"

# ---- revoked: cut off at once, then refused
curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/json" -d '{}' \
  "${URL}api/devices/$ID/revoke" >/dev/null || die "POST revoke"
until_ok 30 "the device shown revoked" device_is state revoked
until_ok 60 "the tunnel saying the server refused it" in_console "tunnel: warn: the server 127\.0\.0\.1:$DEVICE_PORT refused this device: "
[ "$(grep -c "refused this device" "$CON")" -eq 1 ] || die "the refusal was said more than once"
kill -0 "$DEV_PID" || die "the device's system ended"
stop_device
grep -qE "core: system stopped \(exit status 0\)$" "$CON" || die "the device's system did not stop cleanly"
echo PASS
