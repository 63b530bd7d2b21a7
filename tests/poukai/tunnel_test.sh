# The tunnel in booted systems on sim, with a device key bundle provisioned
# here (certificates made with the openssl CLI: a device CA, a server
# certificate for 127.0.0.1, the device's certificate for its identity
# key): it links to a python3-websockets server (link_server.py) and
# exchanges Hello and admin data for an app using kos_tunnel_*; the
# private key is not in its memory; the server killed and restarted, it
# reconnects by itself; a server that refuses it is said once and retried
# slowly; the allow setting is enforced; hostile servers end the link with
# the right close code and the tunnel carries on; a key_store that will not
# sign for it stops it, saying why; and it links to the device port's test
# server (server/devport.c) too.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"
source "$(dirname "$0")/link_lib.sh"

# build NAME MAX TUNNEL_KEYS: the image of tunnel_sys.yaml.in for $PORT.
build() {
  sed -e "s/@PORT@/$PORT/g" -e "s/@MAX@/$2/g" -e "s/@TUNNEL_KEYS@/$3/g" \
    "$KOS_TUNNEL_DIR/tunnel_sys.yaml.in" >"$WORK/$1.yaml"
  "$KOS_TOOL" manifest.build "$WORK/$1.yaml" -o "$WORK/$1.zip" --key "$KOS_KEY" \
    --bin "t_tunnel=$KOS_TUNNEL_APP" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build $1"; }
}
count() { grep -cE -- "$1" "$OUT" || true; }
wait_count() { # wait_count N REGEX: up to 30 s for N console lines matching
  for _ in $(seq 300); do [ "$(count "$2")" -ge "$1" ] && return 0; kill -0 "$PID" || fail "the system ended"; sleep 0.1; done
  fail "fewer than $1 console lines matching '$2' within 30 s"
}
ALL="identity:public,identity:sign,identity_cert:public,server_ca:public,server:public"

start_server good 0
printf 'address 127.0.0.1:%s\nname python test server\n' "$PORT" >"$KEYS/server.txt"
chmod 644 "$KEYS/server.txt"
build tunnel_sys 2s "$ALL"
start_image "$WORK/tunnel_sys.zip" --keys "$KEYS"
wait_for "tunnel: info: link up to 127\.0\.0\.1:$PORT \(python-link-server\) as device $ID$"
wait_for "pinger: info: got: echo: ping 1\.2$"
expect "core: device keys from .*identity_cert \(x509 public [0-9a-f]{16}\), server_ca \(x509 public [0-9a-f]{16}\), server \(text public -\)"
expect "key_store: info: item 'server': text, [0-9]+ bytes$"
expect "tunnel: info: serving kos_tunnel_protocol; linking to 127\.0\.0\.1:$PORT \(python test server\)$"
expect "tunnel: info: allow: 'pinger' may use channel admin$"
expect "pinger: info: link up \(server 127\.0\.0\.1:$PORT, device $ID, 0 reconnects\)$"
expect "pinger: info: send on logs: unauthorized$"
wait_for "outsider: info: outsider: done$"
expect "outsider: info: open admin: unauthorized$"
expect "outsider: info: open shell: unauthorized$"
expect "tunnel: warn: denied: 'outsider' may not use channel admin \(the allow setting\)"
srv_wait 1 "^hello agent=kos-tunnel/0\.1 window=65536 version=1$"
srv_wait 1 "^data 1 8 ping 1\.0$"

# The private key is not in the tunnel's memory (read from the host while
# it runs, as for key_store in test_poukai_keys.sh); its public key, the
# control, is.
tpid=$(app_pid tunnel) || fail "the tunnel is not running"
needles="hex:$(openssl pkey -pubin -in "$KEYS/identity.pub" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')"
needles+=" hex:$(openssl pkey -in "$KEYS/identity.key" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')"
needles+=" txt:$(sed -n 2p "$KEYS/identity.key")"
scan=$(python3 "$(dirname "$0")/memscan.py" $tpid $needles)
case "$scan" in
clean*) echo "tunnel's memory scanned (${scan#clean } bytes): no private key" ;;
skip*) echo "note: cannot read the tunnel's memory here (${scan#skip })" ;;
*) fail "the tunnel's memory: $scan" ;;
esac

# The server goes away and comes back on the same port: the tunnel
# reconnects by itself and the app talks again.
cleanup_srv
wait_for "tunnel: warn: link to 127\.0\.0\.1:$PORT ended: "
wait_for "pinger: info: link (down|connecting) "
start_server good "$PORT"
wait_count 2 "tunnel: info: link up to 127\.0\.0\.1:$PORT "
wait_for "pinger: info: link up \(server 127\.0\.0\.1:$PORT, device $ID, 1 reconnects\)$"
wait_for "pinger: info: got: echo: ping 2\.2$"

# A server that refuses the device (HTTP 403): said once, retried at the
# longest delay (2 s here), never in a tight loop.
cleanup_srv
start_server refuse "$PORT"
srv_wait 3 "^refused$"
wait_for "tunnel: warn: the server 127\.0\.0\.1:$PORT refused this device: the server answered the upgrade with HTTP 403; trying again every 2 s$"
expect_count 1 "refused this device"
n=$(grep -c "^refused$" "$WORK/server.out")
[ "$n" -le 12 ] || fail "$n refused attempts: the tunnel retried faster than its longest delay"

# Hostile servers: each breaks the protocol; the tunnel ends the link with
# the close code, says so, and tries again (and is still running).
for c in "text 1003" "huge 1009" "masked 1002" "garbage 1002" "nocredit 1008"; do
  set -- $c
  cleanup_srv
  re="tunnel: warn: link to 127\.0\.0\.1:$PORT ended: the server broke the protocol \(.*; closed with $2\)"
  n=$(count "$re")
  ns=$(grep -c "^closed $2 " "$WORK/server.out" || true)
  start_server "$1" "$PORT"
  wait_count $((n + 1)) "$re"
  srv_wait $((ns + 1)) "^closed $2 "
done
cleanup_srv
expect_not "core: app 'tunnel' (exited|killed)"
kill -0 "$(app_pid tunnel)" || fail "the tunnel is gone"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "tunnel: info: stopping: [0-9]+ links ended, [0-9]+ handshake signatures by key_store$"
expect_well_formed

# key_store will not sign for the tunnel: it cannot link, and says why once.
start_server good 0
printf 'address 127.0.0.1:%s\n' "$PORT" >"$KEYS/server.txt"
build nosign 1s "identity:public,identity_cert:public,server_ca:public,server:public"
start_image "$WORK/nosign.zip" --keys "$KEYS"
wait_for "tunnel: warn: the server 127\.0\.0\.1:$PORT refused this device: key_store refused to sign the handshake with 'identity' \(unauthorized\): key_store's allow\.tunnel must grant identity:sign"
wait_for "key_store: warn: denied: 'tunnel' may not sign with key 'identity'"
sleep 2
expect_count 1 "tunnel: warn: .*key_store refused to sign"
expect_not "tunnel: info: link up"
stop_image TERM
cleanup_srv

# The device port's test server (server/devport.c) and the real tunnel.
mkfifo "$WORK/cmd"
"$KOS_DEVPORT_SRV" --cert "$WORK/pki/server.crt" --key "$WORK/pki/server.key" \
  --ca "$WORK/pki/ca.crt" --allow "$ID" --echo <"$WORK/cmd" >"$WORK/devport.out" 2>&1 &
SRV=$!
exec 3>"$WORK/cmd"
for _ in $(seq 100); do grep -q '^listening' "$WORK/devport.out" && break; sleep 0.1; done
PORT=$(sed -n 's/^listening //p' "$WORK/devport.out")
[ -n "$PORT" ] || fail "devport_testsrv did not start"
printf 'address 127.0.0.1:%s\nname devport\n' "$PORT" >"$KEYS/server.txt"
build devport_sys 2s "$ALL"
start_image "$WORK/devport_sys.zip" --keys "$KEYS"
wait_for "tunnel: info: link up to 127\.0\.0\.1:$PORT \(kos-server/0\.1\) as device $ID$"
wait_for "pinger: info: got: echo: ping 1\.2$"
grep -q "^online $ID$" "$WORK/devport.out" || fail "the device port did not see the device online"
grep -q "^data $ID 1 8 ping 1\.0$" "$WORK/devport.out" || fail "the device port did not get the data"
echo "kick $ID" >&3
wait_for "tunnel: warn: link to 127\.0\.0\.1:$PORT ended: the peer closed the link \(code 3: the device was revoked\)"
wait_count 2 "tunnel: info: link up to 127\.0\.0\.1:$PORT "
stop_image TERM
echo quit >&3
echo PASS
