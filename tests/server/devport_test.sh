# The device port (server/devport.c) through devport_testsrv, against an
# independent client (devport_client.py: python3-websockets and raw TLS):
# a known device links, exchanges admin messages and closes; unknown
# devices, a certificate whose CN is not its key's id, no certificate,
# TLS 1.2, plain HTTP and silent connections are refused or dropped;
# malformed frames end a link with their close codes; a device that never
# grants credit gets BUSY while another device is served; a second link
# replaces the first; a kicked device is cut off. An idle link dozes
# (its bufferevent freed): what the port sends then reaches the device,
# what the device sends is read, and silence still ends it. Forwarded streams: one
# to an echo server on loopback carries bytes both ways and closes; names
# the port was not given, and a port nobody listens on, are refused with
# their status and reason; streams beyond the bound are refused BUSY;
# malformed Opens, and data, Credit or Close on a stream never opened, end
# the link with their close codes. The port stays up throughout.
set -euo pipefail
T=${KOS_SERVER_TESTS:?}
WORK=$(mktemp -d)
SRV_PID=
SRV2_PID=
ECHO_PID=
cleanup() {
  [ -z "$SRV_PID" ] || kill "$SRV_PID" 2>/dev/null || true
  [ -z "$SRV2_PID" ] || kill "$SRV2_PID" 2>/dev/null || true
  [ -z "$ECHO_PID" ] || kill "$ECHO_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- server:" >&2
  cat "$WORK/srv.out" >&2 || true
  exit 1
}
source "$T/certs.sh"
export PYTHONPATH=$T
# python3-websockets is a Debian package: the system Python has it (another
# python3 first on PATH may not).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

mk_ca "$WORK"
mk_server_cert "$WORK"
for d in a b c; do
  openssl genpkey -algorithm ed25519 -out "$WORK/$d.key" 2>/dev/null
  mk_device_cert "$WORK" "$WORK/$d.key" "$WORK/$d.crt"
done
A=$(device_id "$WORK/a.key")
B=$(device_id "$WORK/b.key")
C=$(device_id "$WORK/c.key")
# a certificate for a's key whose CN names another id
mk_device_cert "$WORK" "$WORK/a.key" "$WORK/a-wrongcn.crt" "$B"
# a certificate from another CA
mkdir "$WORK/other" && mk_ca "$WORK/other"
mk_device_cert "$WORK/other" "$WORK/a.key" "$WORK/a-otherca.crt"

# The streams' destinations: an echo server, and a port nobody listens on.
"$PY" "$T/../system/stream_peer.py" echo "$WORK/echo.port" "$WORK/echo.stats" &
ECHO_PID=$!
for _ in $(seq 100); do [ -s "$WORK/echo.port" ] && break; sleep 0.1; done
[ -s "$WORK/echo.port" ] || fail "the echo server did not start"
CLOSED=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# start_srv NAME FD ARGS...: a test server with the port's certificate and
# ARGS, its commands from file descriptor FD (a FIFO, WORK/NAME.cmd), its
# lines in WORK/NAME.out; sets STARTED_PID and STARTED_PORT.
start_srv() {
  local name=$1 fd=$2
  shift 2
  mkfifo "$WORK/$name.cmd"
  "$KOS_DEVPORT_SRV" --cert "$WORK/server.crt" --key "$WORK/server.key" --ca "$WORK/ca.crt" "$@" \
    <"$WORK/$name.cmd" >"$WORK/$name.out" 2>&1 &
  STARTED_PID=$!
  eval "exec $fd>\"\$WORK/$name.cmd\""
  for _ in $(seq 100); do grep -q '^listening' "$WORK/$name.out" && break; sleep 0.1; done
  STARTED_PORT=$(sed -n 's/^listening //p' "$WORK/$name.out")
  [ -n "$STARTED_PORT" ] || fail "the test server $name did not start: $(cat "$WORK/$name.out")"
}
start_srv srv 3 --allow "$A,$C" --echo --limits 1000,1000,0,4096 \
  --streams "echo=127.0.0.1:$(cat "$WORK/echo.port"),closed=127.0.0.1:$CLOSED"
SRV_PID=$STARTED_PID
PORT=$STARTED_PORT

MARK=0
mark() { MARK=$(wc -l <"$WORK/srv.out"); } # later wait_srv calls look past here
wait_srv() { # wait_srv REGEX: up to 30 s for a server line (after the mark)
  for _ in $(seq 300); do tail -n +$((MARK + 1)) "$WORK/srv.out" | grep -qE -- "$1" && return 0; sleep 0.1; done
  fail "no server line matching '$1'"
}
client() { "$PY" "$T/devport_client.py" "$@" >"$WORK/client.out" 2>&1 || { cat "$WORK/client.out" >&2; fail "client $1 failed"; }; }
expect_client() { grep -qE -- "$1" "$WORK/client.out" || { cat "$WORK/client.out" >&2; fail "client: expected '$1'"; }; }

# A known device: Hello with its id, admin messages echoed, Close.
client good "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" --messages 5
expect_client "^hello device_id=$A window=4096$"
expect_client "^echo 5 ok$"
expect_client "^closed 1000$"
wait_srv "^admit $A yes$"
wait_srv "^online $A$"
wait_srv "^data $A 1 9 message 4$"
wait_srv "^offline $A: the peer closed the link \(code 0: test done\)$"

# Refused: an unknown device, a CN that is not the key's id, another CA,
# no certificate, TLS 1.2.
client refused "$PORT" "$WORK/b.crt" "$WORK/b.key" "$WORK/ca.crt"
expect_client "^refused: "
wait_srv "^admit $B no$"
client refused "$PORT" "$WORK/a-wrongcn.crt" "$WORK/a.key" "$WORK/ca.crt"
expect_client "^refused: "
client refused "$PORT" "$WORK/a-otherca.crt" "$WORK/a.key" "$WORK/ca.crt"
expect_client "^refused: "
client refused "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" --no-cert
expect_client "^refused: "
client refused "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" --tls12
expect_client "^refused: "
! grep -qE "^(online|data) $B" "$WORK/srv.out" || fail "an unknown device got through"
[ "$(grep -c "^online $A$" "$WORK/srv.out")" -eq 1 ] || fail "a refused certificate got online"

# Plain HTTP, and a connection that says nothing: dropped (handshake bound).
client plain "$PORT"
expect_client "^dropped$"
client silent "$PORT"
expect_client "^dropped$"

# Malformed frames: each ends its link with its close code.
for c in "text 1003" "huge 1009" "unmasked 1002" "fragment 1002" "before-hello 1002" "beyond-credit 1008"; do
  set -- $c
  client raw "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" "$1"
  expect_client "^close $2$"
done

# Forwarded streams.
mark
client streams "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt"
expect_client "^echo ok$"
expect_client "^refused 17 2 no destination 'nowhere' on this server$"
expect_client "^refused 18 17 closed \(127\.0\.0\.1:$CLOSED\): Connection refused$"
expect_client "^busy after 8: 14 too many streams \(at most 8 at once\)$"
expect_client "^streams ok$"
wait_srv "^note $A stream 16 opened: 'python-test' to echo \(127\.0\.0\.1:[0-9]+\)$"
wait_srv "^note $A refused stream 17 for 'python-test' to 'nowhere': not a destination this server allows$"
grep -q "^closed 12000 " "$WORK/echo.stats.closed" || fail "the echo server did not get the 12000 bytes: $(cat "$WORK/echo.stats.closed")"
for c in "low-channel 1002" "bad-window 1002" "no-destination 1002" "twice 1002" \
  "data-unopened 1003" "credit-unopened 1003" "close-unopened 1003"; do
  set -- $c
  client stream-bad "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" "$1"
  expect_client "^closed $2$"
done
# A list the port refuses.
"$KOS_DEVPORT_SRV" --cert "$WORK/server.crt" --key "$WORK/server.key" --ca "$WORK/ca.crt" \
  --streams "far=192.0.2.1:80" >"$WORK/far.out" 2>&1 </dev/null && fail "a non-loopback destination was taken"
grep -q "is not a loopback address" "$WORK/far.out" || fail "no reason for refusing 192.0.2.1: $(cat "$WORK/far.out")"

# A device that never grants credit: the port's sends to it run out of its
# window and answer BUSY, while another device links and is served.
mark
"$PY" "$T/devport_client.py" good "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" \
  --messages 1 --no-credit --hold 4 >"$WORK/hold.out" 2>&1 &
HOLD=$!
wait_srv "^data $A 1 9 message 0$"
echo "send $A 2 x100 $(head -c 1000 /dev/zero | tr '\0' 'L')" >&3
wait_srv "^send $A 2: busy \([0-9]+ sent\)$"
client good "$PORT" "$WORK/c.crt" "$WORK/c.key" "$WORK/ca.crt" --messages 3
expect_client "^echo 3 ok$"
wait "$HOLD" || { cat "$WORK/hold.out" >&2; fail "the device without credit failed"; }
grep -qE "^held: 4[0-9]{3} bytes received without credit$" "$WORK/hold.out" ||
  { cat "$WORK/hold.out" >&2; fail "the port sent beyond the device's window (4096)"; }

# A second link of the same device replaces the first; a kick cuts it off.
mark
"$PY" "$T/devport_client.py" good "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" \
  --messages 1 --hold 20 >"$WORK/first.out" 2>&1 &
FIRST=$!
for _ in $(seq 100); do grep -q "^echo 1 ok" "$WORK/first.out" && break; sleep 0.1; done
n=$(grep -c "^online $A$" "$WORK/srv.out")
"$PY" "$T/devport_client.py" good "$PORT" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" \
  --messages 1 --hold 20 >"$WORK/second.out" 2>&1 &
SECOND=$!
wait_srv "^offline $A: replaced by a newer link$"
wait "$FIRST" || true
grep -q "^closed 1000$" "$WORK/first.out" || { cat "$WORK/first.out"; fail "the replaced link was not closed"; }
for _ in $(seq 100); do grep -q "^echo 1 ok" "$WORK/second.out" && break; sleep 0.1; done
echo "kick $A" >&3
wait_srv "^offline $A: the device was revoked"
wait "$SECOND" || true

echo quit >&3
wait "$SRV_PID"
SRV_PID=
grep -qE "^offline $C: " "$WORK/srv.out" || fail "device c did not go offline"

# Dozing (docs/link.md, "Idle links"): a port whose links doze after
# 100 ms with nothing in flight and end after 8 s without input.
start_srv srv2 4 --allow "$A" --echo --limits 1000,1000,8000,4096 --doze 100
SRV2_PID=$STARTED_PID
PORT2=$STARTED_PORT
dozing() { # dozing N: up to 10 s for "links 1 N" from the second port
  for _ in $(seq 50); do
    echo links >&4
    sleep 0.2
    [ "$(grep '^links ' "$WORK/srv2.out" | tail -1)" = "links 1 $1" ] && return 0
  done
  cat "$WORK/srv2.out" >&2
  fail "the second port never had one link up and $1 dozing"
}
# The device echoes two messages, then holds its link, saying nothing: the
# link dozes. A message sent to it then arrives; 3 s after it, the device
# closes, and the port, dozing again, reads its Close.
"$PY" "$T/devport_client.py" good "$PORT2" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" \
  --messages 2 --hold 3 >"$WORK/doze.out" 2>&1 &
DOZE=$!
for _ in $(seq 100); do grep -q "^echo 2 ok" "$WORK/doze.out" && break; sleep 0.1; done
dozing 1
echo "send $A 1 wake-up" >&4
wait "$DOZE" || { cat "$WORK/doze.out" >&2; fail "the dozing device's client failed"; }
grep -q "^held: 7 bytes received" "$WORK/doze.out" ||
  { cat "$WORK/doze.out" >&2; fail "what the port sent to a dozing link did not arrive"; }
grep -q "^closed 1000$" "$WORK/doze.out" || { cat "$WORK/doze.out" >&2; fail "no close after dozing"; }
for _ in $(seq 100); do grep -q "^offline $A: " "$WORK/srv2.out" && break; sleep 0.1; done
grep -q "^offline $A: the peer closed the link (code 0: test done)$" "$WORK/srv2.out" ||
  fail "the dozing link did not read the device's Close: $(grep "^offline" "$WORK/srv2.out")"
# A device silent for 8 s is cut off, dozing or not.
"$PY" "$T/devport_client.py" good "$PORT2" "$WORK/a.crt" "$WORK/a.key" "$WORK/ca.crt" \
  --messages 1 --hold 20 >"$WORK/silent.out" 2>&1 &
SILENT=$!
for _ in $(seq 100); do grep -q "^echo 1 ok" "$WORK/silent.out" && break; sleep 0.1; done
dozing 1
wait "$SILENT" || true
[ "$(grep -c "^offline $A: nothing received for 8 s$" "$WORK/srv2.out")" -eq 1 ] ||
  fail "a silent dozing link was not cut off: $(grep "^offline" "$WORK/srv2.out")"
grep -q "^closed " "$WORK/silent.out" || { cat "$WORK/silent.out" >&2; fail "the silent device's link did not close"; }
echo quit >&4
wait "$SRV2_PID"
SRV2_PID=
echo PASS
