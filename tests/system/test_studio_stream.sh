#!/bin/bash
# Forwarded TCP streams with every real piece (docs/link.md "Streams",
# docs/packages/tunnel.md "Streams"): a Studio started with --streams
# naming an echo server and a sink on loopback (stream_peer.py), a
# provisioned device on sim whose tunnel's streams setting gives its apps
# destinations, and t_app in its stream mode. 4 MiB go through the echo
# and come back intact (the app checks every byte; the echo server's
# SHA-256 of what it read is the pattern's); an app the streams setting
# does not name, a destination the server does not know, and one where
# nobody listens are refused, and both consoles say why; a destination
# that closes at once closes the app's socket; while another
# app's stream saturates the link to the sink, an admin command's result
# still arrives and the sink's count still grows.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app).
. "$(dirname "$0")/studio_lib.sh"
PEERS=
stop_peers() { for p in $PEERS; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_device; stop_peers; cleanup' EXIT
HERE=$(dirname "$0")
BYTES=4194304

python3 "$HERE/stream_peer.py" echo "$WORK/echo.port" "$WORK/echo.stats" &
PEERS="$PEERS $!"
python3 "$HERE/stream_peer.py" sink "$WORK/sink.port" "$WORK/sink.stats" &
PEERS="$PEERS $!"
python3 "$HERE/stream_peer.py" close "$WORK/close.port" "$WORK/close.stats" &
PEERS="$PEERS $!"
until_ok 10 "the echo server listening" test -s "$WORK/echo.port"
until_ok 10 "the sink listening" test -s "$WORK/sink.port"
until_ok 10 "the closer listening" test -s "$WORK/close.port"
CLOSED=$(free_port) # nobody listens there

# Studio refuses a destination off this machine, and a malformed list.
DEVICE_PORT=$(free_port)
run 1 server.start --port 0 --device-port "$DEVICE_PORT" --streams "far=192.0.2.1:80"
grep -q "not a loopback address" "$DATA/server.log" || fail "no reason for refusing 192.0.2.1"
run 1 server.start --port 0 --device-port "$DEVICE_PORT" --streams "echo"
grep -q "expected NAME=HOST:PORT" "$DATA/server.log" || fail "no reason for refusing 'echo'"

start_studio --streams "echo=127.0.0.1:$(cat "$WORK/echo.port"),sink=127.0.0.1:$(cat "$WORK/sink.port"),closed=127.0.0.1:$CLOSED,closer=127.0.0.1:$(cat "$WORK/close.port")"
provision_device stream-1
app() { # NAME ARGS: a t_app entry that may use the tunnel
  printf '  %s:\n    binary: t_app\n    args: [%s]\n    memory: 16MiB\n    protocols:\n      msg0:\n        request: [kos_tunnel_protocol]\n' "$1" "$2"
}
APPS="  tunnel:
    config: {streams: \"streamer=echo;hog=sink;lost=nowhere;shut=closed;hungup=closer\"}
  ticker:
    binary: t_app
    args: [tick, \"200\"]
    memory: 8MiB
$(app streamer "stream, echo, \"$BYTES\"")
$(app hog "stream, sink, \"0\", sink")
$(app denied "stream, echo, \"1000\"")
$(app lost "stream, nowhere, \"10\"")
$(app shut "stream, closed, \"10\"")
$(app hungup "stream, closer, \"100000000\"")"
build_system "$WORK/device.zip" studio_stream "$APPS"
boot_device "$WORK/device.zip"
wait_online ticker

# ---- 4 MiB through the echo server and back, every byte checked
until_ok 120 "the streamer's bytes echoed" in_console "streamer: info: stream echo: $BYTES bytes echoed intact$"
until_ok 10 "the echo server's count" grep -q "^closed $BYTES " "$WORK/echo.stats.closed"
want=$(python3 - "$BYTES" <<'PY'
import hashlib, sys
n, x, out = int(sys.argv[1]), 1, bytearray()
for i in range(0, n, 4):
    x ^= (x << 13) & 0xffffffff; x ^= x >> 17; x ^= (x << 5) & 0xffffffff
    out += x.to_bytes(4, "little")
print(hashlib.sha256(bytes(out[:n])).hexdigest())
PY
)
grep -q "^closed $BYTES $want " "$WORK/echo.stats.closed" || die "the echo server read other bytes: $(cat "$WORK/echo.stats.closed"), want $want"
grep -qE "device [0-9a-f]{16}: stream [0-9]+ opened: 'streamer' to echo \(127\.0\.0\.1:" "$DATA/server.log" ||
  fail "the server did not log the stream"

# ---- a destination that closes at once: the app's socket is closed too
until_ok 30 "the closer's stream closed at the app" in_console "hungup: warn: stream closer: (closed by the far end|write failed) after [0-9]+ bytes"
grep -qE "stream [0-9]+ \('hungup' to closer\) ended: the connection was closed" "$DATA/server.log" ||
  fail "the server did not log the closer's end"

# ---- refusals, each said on both consoles
until_ok 30 "the unnamed app refused" in_console "denied: warn: stream echo refused: unauthorized: the tunnel's streams setting does not let 'denied' open 'echo'$"
in_console "tunnel: warn: denied: 'denied' may not open a stream to 'echo' \(the streams setting\)" ||
  die "the tunnel did not say it denied 'denied'"
until_ok 30 "the unknown destination refused" in_console "lost: warn: stream nowhere refused: not found: the server refused the stream to 'nowhere': no destination 'nowhere' on this server"
grep -q "refused stream [0-9]* for 'lost' to 'nowhere': not a destination this server allows" "$DATA/server.log" ||
  fail "the server did not say why it refused 'nowhere'"
until_ok 30 "the closed port refused" in_console "shut: warn: stream closed refused: connection refused: the server refused the stream to 'closed': closed \(127\.0\.0\.1:$CLOSED\): Connection refused"
grep -q "refused stream [0-9]* for 'shut' to closed: closed (127.0.0.1:$CLOSED): Connection refused" "$DATA/server.log" ||
  fail "the server did not say why it refused 'closed'"
in_console "tunnel: warn: 'lost': the server refused the stream to 'nowhere'" || die "the tunnel did not say 'lost' was refused"

# ---- admin is not starved while the hog's stream saturates the link
until_ok 60 "the hog's stream flowing" grep -q "^open " "$WORK/sink.stats"
before=$(awk '{print $2}' "$WORK/sink.stats")
curl -sN -H "Authorization: Bearer $SECRET" "${URL}api/events?device=$ID" >"$WORK/events.txt" &
EV=$!
sleep 0.5
api_post "api/devices/$ID/commands" '{"restart_app": "ticker"}' >"$WORK/cmd.json" || die "POST commands"
CMD=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/cmd.json")
until_ok 30 "the command's result while the stream runs" grep -q "\"id\": *$CMD, *\"status\": *0" "$WORK/events.txt"
kill "$EV" 2>/dev/null || true
grep -q "^open " "$WORK/sink.stats" || die "the hog's stream ended: $(cat "$WORK/sink.stats")"
until_ok 30 "the sink's count growing past $before" sh -c "[ \$(awk '{print \$2}' '$WORK/sink.stats') -gt $before ]"
in_console "hog: (warn|error)" && die "the hog's stream failed"

stop_device
echo "ok"
