#!/bin/bash
# Message tracing end to end (docs/messages.md, "Tracing"): a device on sim
# linked to a Studio runs an echo server, a pinger that calls it every
# 50 ms with 16 bytes, and a flooder that calls it as fast as it can.
# Tracing is switched on for the pinger through the API: its calls appear
# in GET /api/devices/ID/traces with the right protocol, peer, label,
# sizes and status, vouched for by msg0's grant, as do msg0's directory
# events about it; switched off, no call of its is recorded after. Tracing
# starts with the grants of the channels the app holds, before its first
# call in order and in time, even when msg0 is slow to record them (it is
# stopped while tracing is switched on). Tracing
# the flooder is bounded at every hop: the server keeps at most its ring,
# and the device counts what it drops.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST, KOS_KEY, KOS_T_APP.
. "$(dirname "$0")/studio_lib.sh"
trap 'stop_device; cleanup' EXIT

start_device tracer studio_trace "  echo:
    binary: t_app
    args: [serve, echo_protocol]
    memory: 8MiB
    protocols:
      msg0: {publish: [echo_protocol]}
  pinger:
    binary: t_app
    args: [pinger, echo_protocol, \"50\", \"16\"]
    memory: 8MiB
    protocols:
      msg0: {request: [echo_protocol]}
  flooder:
    binary: t_app
    args: [pinger, echo_protocol, \"0\", \"100\"]
    memory: 8MiB
    protocols:
      msg0: {request: [echo_protocol]}"
until_ok 30 "admin saying it registered" in_console "admin: info: registered with the server as 'tracer'"

# traces_have PYTHON: the device's stored trace records (page by page, at
# most 12 pages: more than the server's ring, and an end even while records
# keep coming) make the expression true; `recs` is the list, `dropped` the
# count.
traces_have() {
  python3 - "$URL" "$SECRET" "$ID" "$1" <<'EOF'
import json, sys, urllib.request
url, secret, dev, expr = sys.argv[1:5]
recs, after, dropped = [], 0, 0
for _ in range(12):
    q = urllib.request.Request(f"{url}api/devices/{dev}/traces?after={after}&limit=1000",
                               headers={"Authorization": "Bearer " + secret})
    page = json.load(urllib.request.urlopen(q))
    recs += page["records"]
    dropped = page["dropped"]
    if not page["records"]:
        break
    after = page["next"]
sys.exit(0 if eval(expr) else 1)
EOF
}
command() {
  api_post "api/devices/$ID/commands" "$1" >"$WORK/cmd.json" || die "POST commands $1"
}

# ---- nothing is traced by default
sleep 1
traces_have 'not [r for r in recs if r["kind"] == "call"]' || die "calls traced before tracing was on"

# descendant COMM: the pid of the device's process named COMM (its binary
# runs from a memfd: "memfd:kos:" and the first 5 characters of its name).
descendant() {
  python3 - "$DEV_PID" "$1" <<'EOF'
import os, sys
root, comm = int(sys.argv[1]), sys.argv[2]
parent, name = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        stat = open(f"/proc/{d}/stat").read()
    except OSError:
        continue
    name[int(d)] = stat[stat.index("(") + 1:stat.rindex(")")]
    parent[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
for pid, n in name.items():
    p = pid
    while p in parent and p != root:
        p = parent[p]
    if p == root and n == comm:
        print(pid)
        sys.exit(0)
sys.exit(1)
EOF
}

# ---- on for the pinger: its calls, with what msg0 vouches for. msg0 is
# stopped meanwhile: the pinger's calls are not recorded, or passed on,
# before msg0 recorded its grant.
MSG0=$(descendant "memfd:kos:msg_s") || die "no msg_server process under the device's $DEV_PID"
kill -STOP "$MSG0"
command '{"trace": {"app": "pinger", "on": true}}'
until_ok 10 "Core switching tracing on" in_console "core: app 'admin' asked to trace the calls of app 'pinger' from now on$"
sleep 1
kill -CONT "$MSG0"
until_ok 30 "the pinger's calls among the traces" traces_have '[r for r in recs if r["kind"] == "call" and r["app"] == "pinger"]'
traces_have 'all(r["peer"] == "echo" and r["protocol"] == "echo_protocol" and r["server"] == "msg0" and r["label"] == 7 and r["req_len"] == 16 and r["rep_len"] == 16 and r["status"] == 0 and r["status_name"] == "ok" and r["verified"] and r["dur_ns"] > 0 for r in recs if r["kind"] == "call" and r["app"] == "pinger")' ||
  die "a call record of the pinger's is not what it did: $(api "api/devices/$ID/traces?limit=5")"
traces_have '[r for r in recs if r["kind"] == "grant" and r["app"] == "pinger" and r["peer"] == "echo" and r["protocol"] == "echo_protocol" and r["server"] == "msg0"]' ||
  die "msg0's grant to the pinger is not among the traces"
traces_have 'not [r for r in recs if r["app"] == "flooder"]' || die "the flooder's calls were traced"
traces_have '(lambda p: p[0]["kind"] == "grant" and all(r["time"] >= p[0]["time"] for r in p))([r for r in recs if r["app"] == "pinger"])' ||
  die "the pinger's first trace record is not msg0's grant, or a call of its is older: $(api "api/devices/$ID/traces?limit=5")"

# ---- msg0's directory events: the echo server restarted publishes again and
# the pinger's token to it ends, both about apps the pinger deals with
command '{"restart_app": "echo"}'
until_ok 30 "msg0's directory events about the pinger's channel" traces_have '[r for r in recs if r["kind"] == "close" and r["app"] == "pinger" and r["peer"] == "echo"]'

# ---- off: no call of the pinger's is recorded after
command '{"trace": {"app": "pinger", "on": false}}'
until_ok 10 "Core switching tracing off" in_console "core: app 'admin' asked to trace the calls of app 'pinger' no more$"
off=$(grep -E "core: app 'admin' asked to trace the calls of app 'pinger' no more$" "$CON" | tail -1 | cut -d' ' -f1)

# ---- the flooder: bounded at every hop, its losses counted
command '{"trace": {"app": "flooder", "on": true}}'
until_ok 60 "the flooder's records, and its losses counted" traces_have 'dropped > 0 and [r for r in recs if r["app"] == "flooder" and r["kind"] == "call"]'
until_ok 60 "a flood of records stored" traces_have 'recs[-1]["seq"] > 12000'
command '{"trace": {"app": "flooder", "on": false}}'
until_ok 10 "Core switching the flooder's tracing off" in_console "core: app 'admin' asked to trace the calls of app 'flooder' no more$"
# Once nothing more comes (two looks a second apart agree), the server
# holds its ring of records at most.
last_seq() { api "api/devices/$ID/traces?after=$1&limit=1000" | python3 -c 'import json, sys; print(json.load(sys.stdin)["next"])'; }
settled() {
  local a b
  a=$(last_seq 0) || return 1
  for _ in $(seq 30); do b=$(last_seq "$a") || return 1; [ "$b" = "$a" ] && break; a=$b; done
  sleep 1
  [ "$(last_seq "$a")" = "$a" ]
}
until_ok 60 "the traces settling" settled
traces_have 'len(recs) <= 10000 and recs[-1]["seq"] - recs[0]["seq"] < 10000' ||
  die "the server keeps more than its ring of trace records"
traces_have "not [r for r in recs if r['app'] == 'pinger' and r['kind'] == 'call' and r['time'] > '$off']" ||
  die "a call of the pinger's recorded after tracing went off at $off"

# ---- the device is none the worse
api "api/devices/$ID" >"$WORK/dev.json"
python3 - "$WORK/dev.json" <<'EOF' || die "the device's health after the flood: $(cat "$WORK/dev.json")"
import json, sys
d = json.load(open(sys.argv[1]))
apps = {a["name"]: a for a in d["health"]["apps"]}
for name in ("echo", "pinger", "flooder", "admin", "tunnel", "msg0"):
    assert apps[name]["state"].startswith("running"), apps[name]
assert d["state"] == "online", d
EOF
kill -0 "$DEV_PID" || die "the device's system ended"
stop_device
grep -qE "core: system stopped \(exit status 0\)$" "$CON" || die "the device's system did not stop cleanly"
echo PASS
