#!/usr/bin/env bash
# bench/link/run.sh [BUILD_DIR] - kos-server's memory per idle device link
# and its full handshakes (mutual TLS 1.3, the WebSocket upgrade, Hello and
# the admin registration) per second, against Mosquitto 2 with TLS 1.3
# client-certificate MQTT connections from the same generator (link_load).
#
# For each run and each N of LINKS: a Studio (kos-server) in a scratch data
# folder on free loopback ports, N devices registered through its API, N
# links opened and left idle, the server's VmRSS (and PSS) read before and
# after, divided by N; then the same for a Mosquitto broker configured in a
# scratch folder (TLS 1.3 only, client certificates required from one CA
# made for the run, the user name taken from the certificate). Then
# HANDSHAKES connections against a fresh Studio and a fresh broker,
# CONCURRENCY in flight, each closed once registered (or connected). The
# two sides alternate which goes first from one run to the next. Prints
# each figure and the ratios KOS/Mosquitto; everything started is stopped
# and the scratch folder removed at the end, whatever happens.
#
# Environment: RUNS (3), LINKS ("1000 10000"), HANDSHAKES (4000; 0: none),
# CONCURRENCY (64), SETTLE (3 s), HOLD (35 s: one round of pings),
# PIN (1: the servers on CPU 1, the generator on CPU 0, when there are two),
# SIDES ("kos mqtt": either alone for a quick look), SEND_CA (0; 1: the
# clients send their CA with their certificates, as OpenSSL does by
# default and the tunnel did before; the tunnel no longer does).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/dev}
tool=$build/bin/kos-tool
gen=$build/bench/link/link_load
RUNS=${RUNS:-3}
LINKS=${LINKS:-1000 10000}
HANDSHAKES=${HANDSHAKES:-4000}
CONCURRENCY=${CONCURRENCY:-64}
SETTLE=${SETTLE:-3}
HOLD=${HOLD:-35}
PIN=${PIN:-1}
SIDES=${SIDES:-kos mqtt}
SEND_CA=${SEND_CA:-0}
send_ca=()
[ "$SEND_CA" = 1 ] && send_ca=(--send-ca)
. bench/link/lib.sh

for f in "$tool" "$gen" "$mosquitto"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing (build with cmake --build --preset dev; scripts/install-deps.sh installs mosquitto)" >&2; exit 1; }
done

# One descriptor per link in the server, the broker and the generator: the
# soft limit is raised to the hard one (20,000 on the reference machine),
# which every process started here inherits.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
for n in $LINKS; do
  if [ "$nofile" != unlimited ] && [ $((n + 2 * CONCURRENCY + 64)) -gt "$nofile" ]; then
    echo "run.sh: $n links need more open files than a process may have here ($nofile)" >&2
    exit 1
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-bench-link.XXXXXX")
results=$WORK/results
studio=""

stop_studio() {
  if [ -n "$studio" ]; then
    "$tool" server.stop --data "$studio" >/dev/null 2>&1 || true
    rm -rf "$studio"
    studio=""
  fi
}
cleanup() {
  stop_studio
  stop_mosquitto
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_cpu=()
gen_cpu=()
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 1)
  gen_cpu=(taskset -c 0)
fi

# start_studio: a Studio in a new scratch folder; sets studio and spid.
start_studio() {
  studio=$(mktemp -d "$WORK/studio.XXXXXX")
  "${server_cpu[@]}" "$tool" server.start --data "$studio" --port 0 --device-port "$(free_port)" >/dev/null
  spid=$(awk '$1 == "pid" { print $2 }' "$studio/studio.run")
}

# kos_links N RUN / mqtt_links N RUN / kos_handshakes RUN / mqtt_handshakes RUN
# (each does nothing unless its side is in SIDES)
side() { case " $SIDES " in *" $1 "*) return 0 ;; esac; return 1; }
kos_links() {
  side kos || return 0
  start_studio
  "${gen_cpu[@]}" "$gen" kos "${send_ca[@]}" --studio "$studio" --links "$1" --pid "$spid" \
    --concurrency "$CONCURRENCY" --settle "$SETTLE" --hold "$HOLD" | grep -v '^registered' |
    sed "s/^/run=$2 /" | tee -a "$results"
  stop_studio
}
mqtt_links() {
  side mqtt || return 0
  start_mosquitto
  "${gen_cpu[@]}" "$gen" mqtt "${send_ca[@]}" --certs "$WORK/mq" --connect "127.0.0.1:$mq_port" --links "$1" \
    --pid "$mq_pid" --concurrency "$CONCURRENCY" --settle "$SETTLE" --hold "$HOLD" |
    sed "s/^/run=$2 /" | tee -a "$results"
  stop_mosquitto
}
kos_handshakes() {
  side kos || return 0
  start_studio
  "${gen_cpu[@]}" "$gen" kos "${send_ca[@]}" --studio "$studio" --handshakes "$HANDSHAKES" --pid "$spid" \
    --concurrency "$CONCURRENCY" | grep -v '^registered' | sed "s/^/run=$1 /" | tee -a "$results"
  stop_studio
}
mqtt_handshakes() {
  side mqtt || return 0
  start_mosquitto
  "${gen_cpu[@]}" "$gen" mqtt "${send_ca[@]}" --certs "$WORK/mq" --connect "127.0.0.1:$mq_port" \
    --handshakes "$HANDSHAKES" --pid "$mq_pid" --concurrency "$CONCURRENCY" |
    sed "s/^/run=$1 /" | tee -a "$results"
  stop_mosquitto
}

mkdir -p "$WORK/mq"
"$gen" certs --certs "$WORK/mq"
echo "# kos-server $("$build/bin/kos-server" --version 2>/dev/null | head -1), $("$mosquitto" -h | head -1)," \
  "$(openssl version), $(nproc) CPUs, open files $nofile${server_cpu:+, pinned}"
for run in $(seq "$RUNS"); do
  for n in $LINKS; do
    alternate "$run" kos_links mqtt_links "$n"
  done
  if [ "$HANDSHAKES" -gt 0 ]; then
    alternate "$run" kos_handshakes mqtt_handshakes
  fi
done

# The summary: per-link memory and its ratio, handshakes per second and theirs.
awk "$kv_awk"'
{ run = v($0, "run"); kind = $2; who = $3; n = v($0, "n"); if (run > maxrun) maxrun = run }
kind == "links" { rss[run, n, who] = v($0, "per_link_rss_kib"); pss[run, n, who] = v($0, "per_link_pss_kib")
  if (!(n in seen)) { seen[n] = 1; ns[++nn] = n } }
kind == "handshakes" { rate[run, who] = v($0, "per_s"); cpu[run, who] = v($0, "server_cpu_us") }
END {
  print ""
  print "memory per idle link (KiB; RSS, PSS in brackets)"
  printf "%-4s %-7s %-20s %-20s %s\n", "run", "N", "kos-server", "mosquitto", "KOS/Mosquitto (RSS, PSS)"
  for (i = 1; i <= nn; i++) for (r = 1; r <= maxrun; r++) {
    n = ns[i]
    if (rss[r, n, "kos"] == "" || rss[r, n, "mqtt"] == "") continue
    printf "%-4s %-7s %-20s %-20s %.2f, %.2f\n", r, n,
      sprintf("%.2f [%.2f]", rss[r, n, "kos"], pss[r, n, "kos"]),
      sprintf("%.2f [%.2f]", rss[r, n, "mqtt"], pss[r, n, "mqtt"]),
      rss[r, n, "kos"] / rss[r, n, "mqtt"], pss[r, n, "kos"] / pss[r, n, "mqtt"]
  }
  print ""
  print "handshakes per second (server CPU per handshake, us, in brackets)"
  printf "%-4s %-20s %-20s %s\n", "run", "kos-server", "mosquitto", "KOS/Mosquitto"
  for (r = 1; r <= maxrun; r++) if (rate[r, "kos"] != "" && rate[r, "mqtt"] != "")
    printf "%-4s %-20s %-20s %.2f\n", r, sprintf("%.0f [%s]", rate[r, "kos"], cpu[r, "kos"]),
      sprintf("%.0f [%s]", rate[r, "mqtt"], cpu[r, "mqtt"]), rate[r, "kos"] / rate[r, "mqtt"]
}' "$results"
