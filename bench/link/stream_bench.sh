#!/usr/bin/env bash
# bench/link/stream_bench.sh [BUILD_DIR] - the bulk throughput of a
# forwarded TCP stream (docs/link.md, "Streams") against the same bytes over
# a direct TLS 1.3 connection, in the same run.
#
# KOS: a Studio started with --streams naming a sink on loopback, a device
# provisioned for it and booted on sim (kos-tool run) whose app (t_app's
# stream mode, bulk: one 64 KiB buffer written again and again, as the
# direct client does) writes BYTES bytes to its stream socket and closes it: app ->
# loopback -> tunnel -> TLS 1.3 link -> kos-server -> loopback -> sink.
# Direct: a TLS 1.3 client (stream_send.py: Python's ssl, i.e. OpenSSL 3,
# the same cipher suite the link negotiates) writes the same number of bytes
# to a TLS 1.3 sink. The sinks are tests/system/stream_peer.py's time mode:
# each times from its first byte to the end of the connection.
# Prints MB/s of each and the ratio KOS/direct per run (target >= 0.5).
#
# Environment: RUNS (3), BYTES (268435456: 256 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build/dev}" && pwd)
RUNS=${RUNS:-3}
BYTES=${BYTES:-268435456}
here=$(pwd)/bench/link
export KOS_TOOL=$build/bin/kos-tool KOS_TRUST=$build/kos-keys/release.pub \
  KOS_KEY=$build/kos-keys/release.key KOS_T_APP=$build/tests/t_app
for f in "$KOS_TOOL" "$KOS_T_APP" "$KOS_KEY"; do
  [ -e "$f" ] || { echo "stream_bench.sh: $f is missing (cmake --build --preset dev)" >&2; exit 1; }
done
# studio_lib.sh gives the Studio and device helpers and a scratch folder
# (WORK) removed at the end, with every server it started stopped.
. "$here/../../tests/system/studio_lib.sh"
SINKS=
trap 'stop_device; for p in $SINKS; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

# tree_ticks PID: the CPU time (user + system, clock ticks) of PID and every
# process under it.
tree_ticks() {
  python3 - "$1" <<'PY'
import os, sys
root, kids, ticks = int(sys.argv[1]), {}, {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append(int(d))
        ticks[int(d)] = int(f[11]) + int(f[12])
todo, n = [root], 0
while todo:
    p = todo.pop()
    n += ticks.get(p, 0)
    todo += kids.get(p, [])
print(n)
PY
}
hz=$(getconf CLK_TCK)
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }'; }
last() { tail -1 "$1" | awk '{ print $2, $4 }'; } # "closed N - SECONDS"

# The sinks: plain for the stream's destination, TLS 1.3 for the direct one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$WORK/sink.key" -out "$WORK/sink.crt" 2>/dev/null
peer=$here/../../tests/system/stream_peer.py
python3 "$peer" time "$WORK/plain.port" "$WORK/plain" &
SINKS="$SINKS $!"
python3 "$peer" time "$WORK/tls.port" "$WORK/tls" "$WORK/sink.crt" "$WORK/sink.key" &
SINKS="$SINKS $!"
until_ok 10 "the sinks listening" test -s "$WORK/plain.port" -a -s "$WORK/tls.port"

start_studio --streams "sink=127.0.0.1:$(cat "$WORK/plain.port")"
provision_device bench-stream
build_system "$WORK/bench.zip" bench_stream "  tunnel:
    config: {streams: \"bulk=sink\"}
  bulk:
    binary: t_app
    args: [stream, sink, \"$BYTES\", bulk]
    memory: 16MiB
    restart: permanent
    protocols:
      msg0:
        request: [kos_tunnel_protocol]"

echo "stream_bench: $BYTES bytes per transfer, $RUNS runs"
for run in $(seq "$RUNS"); do
  # KOS: boot the device; its app streams once, then waits.
  : >"$WORK/plain.closed"
  boot_device "$WORK/bench.zip"
  srv_pid=$(rt pid)
  srv0=$(tree_ticks "$srv_pid")
  until_ok 300 "the stream's end at the sink" test -s "$WORK/plain.closed"
  in_console "bulk: info: stream sink: $BYTES bytes sent$" || die "the app did not send it all"
  dev_cpu=$(tree_ticks "$DEV_PID")
  srv_cpu=$(($(tree_ticks "$srv_pid") - srv0))
  stop_device
  read -r kb ks < <(last "$WORK/plain.closed")
  [ "$kb" = "$BYTES" ] || fail "the sink got $kb bytes of $BYTES"
  # Direct TLS 1.3.
  : >"$WORK/tls.closed"
  cipher=$(python3 "$here/stream_send.py" "$(cat "$WORK/tls.port")" "$BYTES" "$WORK/sink.crt")
  until_ok 60 "the direct transfer's end" test -s "$WORK/tls.closed"
  read -r db ds < <(last "$WORK/tls.closed")
  [ "$db" = "$BYTES" ] || fail "the TLS sink got $db bytes of $BYTES"
  k=$(mbps "$kb" "$ks")
  d=$(mbps "$db" "$ds")
  echo "run $run: stream $k MB/s, direct TLS 1.3 ($cipher) $d MB/s, ratio $(awk -v k="$k" -v d="$d" 'BEGIN { printf "%.2f", k / d }');" \
    "CPU per MiB: kos-server $(awk -v t="$srv_cpu" -v hz="$hz" -v b="$BYTES" 'BEGIN { printf "%.2f", t * 1000 / hz / (b / 1048576) }') ms," \
    "the device (every process, its boot included) $(awk -v t="$dev_cpu" -v hz="$hz" -v b="$BYTES" 'BEGIN { printf "%.2f", t * 1000 / hz / (b / 1048576) }') ms;" \
    "load average $(cut -d' ' -f1 /proc/loadavg)"
done
