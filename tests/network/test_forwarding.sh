#!/bin/bash
# kos-tool network.enable_forwarding / disable_forwarding (docs/device.md,
# "Networking"), only ever inside a network namespace this test makes
# (unshare -n): the host's own rules and sysctls are never touched. In it: a
# TAP interface for the device, a veth for the way out, and a table of
# "the host's own" with a rule. Enabling makes KOS's table with the forward
# and masquerade rules and turns ip_forward on; again is fine; disabling
# takes the table away and puts ip_forward back; the other table is the same
# throughout. Bad names, missing interfaces, a second TAP, and disabling
# what is not on are each refused with a clear error. Then real packets:
# a device namespace reaches an outside one only while forwarding is on,
# and the outside sees the masqueraded address.
# Environment: KOS_TOOL.
set -euo pipefail
T=${KOS_TOOL:?}
if [ -z "${KOS_IN_NETNS:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a network namespace"; exit 77; }
  command -v nft >/dev/null || { echo "FAIL: nft is missing (scripts/install-deps.sh installs nftables)" >&2; exit 1; }
  host_before=$(nft list ruleset 2>/dev/null | sha256sum)
  fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
  KOS_IN_NETNS=1 unshare -n bash "$0"
  [ "$(nft list ruleset 2>/dev/null | sha256sum)" = "$host_before" ] || { echo "FAIL: the host's rules changed" >&2; exit 1; }
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$fwd_before" ] || { echo "FAIL: the host's ip_forward changed" >&2; exit 1; }
  echo PASS
  exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; for f in out err; do [ -s "$WORK/$f" ] && { echo "--- $f:" >&2; cat "$WORK/$f" >&2; }; done; exit 1; }
run() {
  local want=$1 rc=0
  shift
  "$T" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "kos-tool $*: exit status $rc, expected $want"
}
has() { grep -qE -- "$2" "$WORK/$1" || fail "no line matching '$2' in $1"; }

ip tuntap add dev kostap0 mode tap
ip tuntap add dev kostap1 mode tap
ip link add out0 type veth peer name out1
nft add table inet hosts_own
nft add chain inet hosts_own input '{ type filter hook input priority 0; policy accept; }'
nft add rule inet hosts_own input tcp dport 22 accept
own=$(nft list table inet hosts_own)
echo 0 >/proc/sys/net/ipv4/ip_forward

# ---- on
run 0 network.enable_forwarding --tap kostap0 --out out0
has out "^forwarding for kostap0 through out0 is on \(nftables table inet kos_forward_kostap0; ip_forward 1, was 0 before KOS\)$"
nft list table inet kos_forward_kostap0 >"$WORK/table"
for re in 'comment "kos-tool network.enable_forwarding: ip_forward was 0"' \
          'iifname "kostap0" oifname "out0" accept' \
          'iifname "out0" oifname "kostap0" ct state established,related accept' \
          'iifname "out0" oifname "kostap0" drop' \
          'iifname "kostap0" oifname "out0" masquerade'; do
  grep -qF -- "$re" "$WORK/table" || fail "KOS's table has no '$re': $(cat "$WORK/table")"
done
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "ip_forward is not 1"
[ "$(nft list table inet hosts_own)" = "$own" ] || fail "the host's own table changed"
# Again: the same one table, made again.
run 0 network.enable_forwarding --tap=kostap0 --out=out0
has out "it was on already, its rules are made again"
[ "$(nft list tables | grep -c kos_forward_kostap0)" -eq 1 ] || fail "two tables for kostap0"
# A second device: its own table; what ip_forward was is kept from the first.
run 0 network.enable_forwarding --tap kostap1 --out out0
has out "ip_forward 1, was 0 before KOS"

# ---- off: the first leaves ip_forward on for the second; the last puts it back.
run 0 network.disable_forwarding --tap kostap0
has out "^forwarding for kostap0 is off \(table inet kos_forward_kostap0 deleted; ip_forward left on for KOS's other tables\)$"
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "ip_forward went off while kostap1 forwards"
run 0 network.disable_forwarding --tap kostap1
has out "ip_forward back to 0, as it was before KOS\)$"
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "ip_forward was not put back"
nft list tables | grep -q kos_forward && fail "a KOS table is left: $(nft list tables)"
[ "$(nft list table inet hosts_own)" = "$own" ] || fail "the host's own table changed"

# ---- refusals
run 1 network.disable_forwarding --tap kostap0
has err "^kos-tool network.disable_forwarding: forwarding is not on for kostap0 \(no nftables table inet kos_forward_kostap0\)$"
run 1 network.enable_forwarding --tap nosuch0 --out out0
has err "there is no interface 'nosuch0' here"
run 2 network.enable_forwarding --tap 'kos-tap' --out out0
has err "--tap: 'kos-tap' is not an interface name this command takes \(1 to 15 letters, digits and '_'\)"
run 2 network.enable_forwarding --tap 'a"; flush ruleset; "' --out out0
has err "is not an interface name this command takes"
run 2 network.enable_forwarding --tap kostap0
has err "--out IFACE is needed"
run 2 network.enable_forwarding --tap out0 --out out0
has err "--tap and --out are the same interface, 'out0'"
run 2 network.disable_forwarding
has err "--tap IFACE is needed"
[ "$(nft list table inet hosts_own)" = "$own" ] || fail "the host's own table changed"
nft list tables | grep -q kos_forward && fail "a refused command left a KOS table"

# ---- real packets: a "device" namespace behind kosdev0 (a veth standing
# in for the TAP) and an "outside" namespace behind out0, which has no
# route back to the device's network: only masquerading brings replies.
# Background processes never hold the test's output open (CTest waits for it).
unshare -n sleep 120 >/dev/null 2>&1 &
DEV=$!
unshare -n sleep 120 >/dev/null 2>&1 &
OUTSIDE=$!
trap 'kill $DEV $OUTSIDE 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 0.2
ip link add kosdev0 type veth peer name eth0dev
ip link set eth0dev netns "$DEV"
ip link set out1 netns "$OUTSIDE"
ip addr add 192.0.2.1/24 dev kosdev0 && ip link set kosdev0 up
ip addr add 198.51.100.1/24 dev out0 && ip link set out0 up
in_dev() { nsenter -t "$DEV" -n "$@"; }
in_out() { nsenter -t "$OUTSIDE" -n "$@"; }
in_dev ip addr add 192.0.2.2/24 dev eth0dev
in_dev ip link set eth0dev up
in_dev ip link set lo up
in_dev ip route add default via 192.0.2.1
in_out ip addr add 198.51.100.2/24 dev out1
in_out ip link set out1 up
# The outside: answers each connection with the address it came from.
nsenter -t "$OUTSIDE" -n python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 8080)); s.listen(8)
while True:
    c, a = s.accept(); c.sendall(a[0].encode() + b"\n"); c.close()' >/dev/null 2>&1 &
SRV=$!
trap 'kill $SRV $DEV $OUTSIDE 2>/dev/null; rm -rf "$WORK"' EXIT
reach() {
  in_dev python3 -c '
import socket, sys
try:
    c = socket.create_connection(("198.51.100.2", 8080), timeout=2); print(c.recv(64).decode().strip())
except OSError as e:
    print("unreachable:", e); sys.exit(1)'
}
sleep 0.3
if reach >"$WORK/reach" 2>&1; then fail "the device reached the outside before forwarding was on: $(cat "$WORK/reach")"; fi
run 0 network.enable_forwarding --tap kosdev0 --out out0
reach >"$WORK/reach" 2>&1 || fail "the device cannot reach the outside with forwarding on: $(cat "$WORK/reach")"
grep -qx "198.51.100.1" "$WORK/reach" || fail "the outside saw $(cat "$WORK/reach"), not the masqueraded 198.51.100.1"
run 0 network.disable_forwarding --tap kosdev0
if reach >"$WORK/reach" 2>&1; then fail "the device still reaches the outside after disable_forwarding"; fi
exit 0
