# ethernet in booted systems: connections through the received socket to a
# loopback echo server, by address, by name and by IPv4-mapped address;
# refused, timed-out, unreachable and unresolvable destinations; refusals by
# the allow list and by the message server; malformed requests; apps that
# try to make or redirect sockets themselves; a bad allow list.
source "$(dirname "$0")/../system/lib.sh"

# The peers: an echo server, a listener that never answers, a closed port.
start_eth_peers

# build NAME: the image of $KOS_ETH_DIR/NAME.yaml.in with the ports filled in.
build() {
  sed -e "s/@ECHO@/$ECHO/g" -e "s/@STUCK@/$STUCK/g" -e "s/@CLOSED@/$CLOSED/g" -e "s/@ECHO6@/$ECHO6/g" \
    "$KOS_ETH_DIR/$1.yaml.in" >"$WORK/$1.yaml"
  "$KOS_TOOL" manifest.build "$WORK/$1.yaml" -o "$WORK/$1.zip" --key "$KOS_KEY" \
    --bin "eth_t_app=$KOS_ETH_APP" --layer-dir "$KOS_ETH_DIR/layers" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build $1"; }
}

# An allowed app: every outcome, each with its status and ethernet's log line.
build eth_allowed
run_image "$WORK/eth_allowed.zip"
[ "$RC" -eq 0 ] || fail "eth_allowed: exit status $RC, expected 0"
expect "^\S+ core: sandbox: app 'ethernet' shares the host's network \(network: host\)"
expect "^\S+ ethernet: info: allow: 'client' may connect to tcp:127\.0\.0\.1:$ECHO$"
expect "^\S+ ethernet: info: allow: 'client' may connect to tcp:echo\.test:$ECHO$"
expect "^\S+ ethernet: warn: allow: 'nowhere\.test' has no address in the hosts setting"
expect "^\S+ ethernet: info: serving kos_ethernet_protocol: 6 destinations allowed, 1 host names; connect timeout 1000 ms$"
expect "^\S+ client: info: open: ok$"
expect "^\S+ client: info: echo 127\.0\.0\.1:$ECHO: ok, 'hello' came back 3 times via 127\.0\.0\.1:$ECHO$"
expect "^\S+ client: info: echo echo\.test:$ECHO: ok, 'by-name' came back 3 times via 127\.0\.0\.1:$ECHO$"
expect "^\S+ client: info: echo ::ffff:127\.0\.0\.1:$ECHO: ok, 'mapped' came back 3 times via 127\.0\.0\.1:$ECHO$"
expect "^\S+ ethernet: info: 'client' connected to tcp 127\.0\.0\.1:$ECHO \(127\.0\.0\.1:$ECHO\)$"
expect "^\S+ ethernet: info: 'client' connected to tcp echo\.test:$ECHO \(127\.0\.0\.1:$ECHO\)$"
expect "^\S+ client: info: connect 127\.0\.0\.1:$CLOSED: connection refused \(errno ECONNREFUSED\)$"
expect "^\S+ ethernet: warn: 'client' could not connect to tcp 127\.0\.0\.1:$CLOSED: connection refused \("
expect "^\S+ client: info: connect 127\.0\.0\.1:$STUCK: timeout \(errno ETIMEDOUT\)$"
expect "^\S+ ethernet: warn: 'client' could not connect to tcp 127\.0\.0\.1:$STUCK: timeout \("
expect "^\S+ client: info: connect 255\.255\.255\.255:9: unreachable \(errno ENETUNREACH\)$"
expect "^\S+ ethernet: warn: 'client' could not connect to tcp 255\.255\.255\.255:9: unreachable \("
expect "^\S+ client: info: connect nowhere\.test:$ECHO: not found \(errno none\)$"
expect "^\S+ ethernet: warn: 'client' may connect to nowhere\.test, but the hosts setting has no address for it$"
expect "^\S+ client: info: connect 127\.0\.0\.1:22: unauthorized \(errno none\)$"
expect "^\S+ ethernet: warn: denied: 'client' may not connect to tcp 127\.0\.0\.1:22 \(not in its allow list\)$"
expect "^\S+ client: info: connect 10\.1\.2\.3:$ECHO: unauthorized \(errno none\)$"
expect "^\S+ ethernet: warn: denied: 'client' may not connect to tcp 10\.1\.2\.3:$ECHO \(not in its allow list\)$"
expect "^\S+ client: info: connect bad host!:80: invalid argument \(errno none\)$"
expect "^\S+ client: info: misuse: connect elsewhere EPERM, sendto with MSG_FASTOPEN EPERM$"
expect "^\S+ client: info: socket: tcp EPERM, udp6 EPERM, socketpair EPERM$"
expect "^\S+ client: info: garbage short: protocol error$"
expect "^\S+ client: info: garbage lying length: protocol error$"
expect "^\S+ client: info: garbage bad host: invalid argument$"
expect "^\S+ client: info: garbage unknown label: unsupported$"
expect "^\S+ ethernet: warn: bad request from 'client': a malformed connect request$"
expect "^\S+ ethernet: warn: bad request from 'client': unknown label 99$"
expect "^\S+ client: info: pair: ok, ping and pong went across, each end's peer is the other$"
expect "^\S+ client: info: steps done$"
expect "^\S+ ethernet: info: stopping: 4 connections handed over, 2 denied, 4 failed$"
expect_well_formed

# IPv6, and a name whose first address refuses: the next one is tried.
if [ "$ECHO6" -ne 0 ]; then
  build eth_ipv6
  run_image "$WORK/eth_ipv6.zip"
  [ "$RC" -eq 0 ] || fail "eth_ipv6: exit status $RC, expected 0"
  expect "^\S+ client: info: echo ::1:$ECHO6: ok, 'six' came back 3 times via \[::1\]:$ECHO6$"
  expect "^\S+ client: info: echo \[::1\]:$ECHO6: ok, 'brackets' came back 3 times via \[::1\]:$ECHO6$"
  expect "^\S+ client: info: echo localhost:$ECHO6: ok, 'fallback' came back 3 times via \[::1\]:$ECHO6$"
  expect "^\S+ ethernet: info: 'client' connected to tcp localhost:$ECHO6 \(\[::1\]:$ECHO6\)$"
else
  echo "note: no IPv6 loopback on this host; the IPv6 system is skipped"
fi

# Allowed the protocol, but not that destination.
build eth_denied
run_image "$WORK/eth_denied.zip"
[ "$RC" -eq 0 ] || fail "eth_denied: exit status $RC, expected 0"
expect "^\S+ limited: info: open: ok$"
expect "^\S+ limited: info: pair: unauthorized$"
expect "^\S+ ethernet: warn: denied: 'limited' may not ask for loopback pairs \(not in the pairs setting\)$"
expect "^\S+ limited: info: echo 127\.0\.0\.1:$ECHO: unauthorized$"
expect "^\S+ ethernet: warn: denied: 'limited' may not connect to tcp 127\.0\.0\.1:$ECHO \(not in its allow list\)$"
# Every request is refused, but ethernet logs only its budget of them
# (a burst of 20, then one per 500 ms): far fewer than 201 lines.
expect "^\S+ limited: info: flood: 200 of 200 refused$"
n=$(grep -c "ethernet: warn: denied: 'limited'" "$OUT" || true)
[ "$n" -ge 20 ] || fail "expected at least the burst of 20 logged denials of 'limited', found $n"
expect_within_budget "ethernet: warn: denied: 'limited'" 20 500

# Not granted the protocol: the message server refuses; no socket either.
build eth_noproto
run_image "$WORK/eth_noproto.zip"
[ "$RC" -eq 0 ] || fail "eth_noproto: exit status $RC, expected 0"
expect "^\S+ outsider: info: socket: tcp EPERM, udp6 EPERM, socketpair EPERM$"
expect "^\S+ outsider: info: open: unauthorized$"
expect "^\S+ msg0: .*denied.*'outsider'.*'kos_ethernet_protocol'"
expect_not "ethernet: .*'outsider' connected"

# A malformed allow list stops ethernet with a message naming the problem.
run_image "$KOS_IMAGES/eth_badconfig.zip"
expect "^\S+ ethernet: error: allow: expected tcp:HOST:PORTS \(only TCP connections are opened\) at offset 7 \('udp:192\.0\.2\.1:53'\)$"
expect "^\S+ core: app 'ethernet' exited with status 1"
echo "PASS"
