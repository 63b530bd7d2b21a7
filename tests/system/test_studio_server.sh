#!/bin/bash
# The Studio server started, asked and stopped with kos-tool, as a user
# does: server.start prints the address to open and the device address and
# leaves a private data folder and runtime file; server.status reports it;
# server.stop ends it and removes the runtime file; a stale runtime file is
# replaced. And the clear errors: already running, a port in use, a data
# folder that cannot be made or written, a non-loopback address, usage.
# Environment: KOS_TOOL, KOS_SERVER.
. "$(dirname "$0")/studio_lib.sh"
S=${KOS_SERVER:?}

# ---- not running yet
run 1 server.status
expect out "^Studio is not running \(data folder $DATA\)\.$"
run 1 server.stop
expect err "^kos-tool server.stop: Studio is not running$"

# ---- start: the address to open, with the secret, and the device address
start_studio
expect out "^Studio is running \(pid [0-9]+\); its data is in $DATA\.$"
expect out "^open: +http://127\.0\.0\.1:[0-9]+/\?secret=[0-9a-f]{64}$"
expect out "^devices: connect to 127\.0\.0\.1:$DEVICE_PORT$"
grep -q "$SECRET" "$WORK/out" || fail "server.start did not print the secret of the runtime file"
[[ $URL =~ ^http://127\.0\.0\.1:[0-9]+/$ ]] || fail "runtime file url: $URL"
[ "$(rt device)" = "127.0.0.1:$DEVICE_PORT" ] || fail "runtime file device: $(rt device)"
PID=$(rt pid)
[ "$(cat /proc/"$PID"/comm)" = kos-server ] || fail "the runtime file's pid $PID is not kos-server"
# Everything private: the folder 0700, private keys, database, runtime
# file and log 0600; the CA certificate public.
[ "$(mode "$DATA")" = 700 ] || fail "data folder mode $(mode "$DATA")"
for f in studio.run ca.key server.log studio.db studio.lock; do
  [ "$(mode "$DATA/$f")" = 600 ] || fail "$f has mode $(mode "$DATA/$f"), not 600"
done
[ "$(mode "$DATA/ca.crt")" = 644 ] || fail "ca.crt has mode $(mode "$DATA/ca.crt")"
# The secret and private keys never reach the log.
! grep -q "$SECRET" "$DATA/server.log" || fail "the secret is in the server's log"
! grep -q "PRIVATE KEY" "$DATA/server.log" || fail "a private key is in the server's log"
# It answers the API with the secret.
curl -sf -H "Authorization: Bearer $SECRET" "${URL}api/devices" >"$WORK/devices.json" ||
  fail "the API does not answer with the runtime file's secret"
grep -q '"devices":\[\]' "$WORK/devices.json" || fail "a new Studio has devices: $(cat "$WORK/devices.json")"

run 0 server.status
expect out "^Studio is running \(pid $PID\)"
expect out "^open: +${URL//./\\.}\?secret=$SECRET$"
expect out "^0 devices: 0 online, 0 offline, 0 registered \(never connected\), 0 revoked$"

# ---- already running: by kos-tool, and by kos-server itself (the lock)
run 1 server.start --port 0 --device-port "$(free_port)"
expect err "^kos-tool server.start: Studio is already running \(pid $PID, ${URL//./\\.}\) with the data folder $DATA: stop it first with kos-tool server.stop$"
rc=0
"$S" studio --data "$DATA" --port 0 --device-port "$(free_port)" 2>"$WORK/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a second kos-server on the same data folder: exit status $rc"
expect err "another kos-server already uses the data folder $DATA"

# ---- a port in use: another Studio (another folder) on this one's API port
API_PORT=${URL#http://127.0.0.1:}
API_PORT=${API_PORT%/}
XDG_DATA_HOME=$WORK/other run 1 server.start --port "$API_PORT" --device-port "$(free_port)"
expect err "^kos-tool server.start: the API port 127\.0\.0\.1:$API_PORT is in use \(another program listens there\): choose another with --port"
[ ! -e "$WORK/other/kos/studio/studio.run" ] || fail "a server that did not start left a runtime file"

# ---- stop
run 0 server.stop
expect out "^Studio stopped \(pid $PID\); its data stays in $DATA\.$"
[ ! -e "$DATA/studio.run" ] || fail "server.stop left the runtime file"
! kill -0 "$PID" 2>/dev/null || fail "kos-server $PID still runs after server.stop"
grep -q "stopping (SIGTERM)" "$DATA/server.log" || fail "the log does not say why it stopped"
run 1 server.status
expect out "Studio is not running"

# ---- a stale runtime file (its process is gone) is replaced
sleep 0.01 &
dead=$!
wait "$dead"
printf 'pid %s\nurl http://127.0.0.1:1/\ndevice 127.0.0.1:2\nsecret %s\n' "$dead" \
  "$(printf '0%.0s' $(seq 64))" >"$DATA/studio.run"
chmod 600 "$DATA/studio.run"
run 1 server.stop
expect err "Studio is not running"
printf 'pid %s\nurl http://127.0.0.1:1/\ndevice 127.0.0.1:2\nsecret %s\n' "$dead" \
  "$(printf '0%.0s' $(seq 64))" >"$DATA/studio.run"
start_studio
[ "$(rt pid)" != "$dead" ] || fail "the stale runtime file was not replaced"
curl -sf -H "Authorization: Bearer $SECRET" "${URL}api/devices" >/dev/null ||
  fail "the restarted server does not answer"
[ "$SECRET" != "0000000000000000000000000000000000000000000000000000000000000000" ] ||
  fail "the secret is the stale one"
run 0 server.stop

# ---- a data folder that cannot be made, or written
: >"$WORK/a-file"
run 1 server.start --data "$WORK/a-file/studio" --port 0 --device-port "$(free_port)"
expect err "^kos-tool server.start: cannot create the data folder $WORK/a-file/studio: Not a directory \(give another with --data\)$"
if [ "$(id -u)" -ne 0 ]; then # root may write anywhere
  mkdir -m 500 "$WORK/ro"
  run 1 server.start --data "$WORK/ro" --port 0 --device-port "$(free_port)"
  expect err "the data folder $WORK/ro is not writable"
fi

# ---- kos-server itself: loopback only, and its usage errors
for addr in 0.0.0.0 192.168.1.10 ::1 example.com; do
  rc=0
  "$S" studio --data "$WORK/s" --address "$addr" --port 0 --device-port 1 2>"$WORK/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "kos-server --address $addr: exit status $rc, expected 2"
  expect err "^kos-server studio: --address takes a loopback address \(127\.0\.0\.0/8\): Studio is for this machine only, not '$addr'$"
done
[ ! -e "$WORK/s" ] || fail "a refused kos-server made its data folder"
rc=0
"$S" studio --portt 1 2>"$WORK/err" || rc=$?
[ "$rc" -eq 2 ] || fail "kos-server --portt: exit status $rc"
expect err "^kos-server studio: unknown option '--portt' \(did you mean --port\?\); see kos-server studio --help$"
rc=0
"$S" 2>"$WORK/err" || rc=$?
[ "$rc" -eq 2 ] || fail "kos-server without a profile: exit status $rc"
"$S" studio --help | grep -q "^usage: kos-server studio" || fail "kos-server studio --help"

# ---- kos-tool's usage errors
run 2 server.start --port 70000
expect err "^kos-tool server.start: --port takes a port number from 0 to 65535, not '70000'$"
run 2 server.stop --port 1
expect err "^kos-tool server.stop: unknown option '--port'"
run 2 server.status extra
expect err "^kos-tool server.status: unexpected argument 'extra'"
for c in start stop status; do
  run 0 "server.$c" --help
  expect out "^usage: kos-tool server\.$c"
done

# ---- --foreground: the server runs in this process until it is stopped
"$T" server.start --foreground --port 0 --device-port 0 >"$WORK/fg.out" 2>"$WORK/fg.err" &
FG=$!
for _ in $(seq 300); do [ -e "$DATA/studio.run" ] && break; sleep 0.1; done
[ "$(rt pid)" = "$FG" ] || fail "server.start --foreground did not become kos-server (pid $FG)"
run 0 server.status
run 0 server.stop
wait "$FG" || fail "the foreground server ended with status $?"
grep -q "Studio started" "$WORK/fg.err" || fail "the foreground server's log is not on stderr"
echo PASS
