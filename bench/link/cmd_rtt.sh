#!/usr/bin/env bash
# bench/link/cmd_rtt.sh [BUILD_DIR] - an admin command's round trip, server
# to device and back, on loopback, against an MQTT request and response
# through Mosquitto 2, in the same run.
#
# KOS: a Studio and a Poukai system on sim linked to it (device_lib.sh).
# Each command is POST /api/devices/ID/commands {"trace": {"app":
# "rng_server", "on": false}}: the server stores it and sends it on the
# admin channel; tunnel hands it to admin, admin asks Core (the system
# interface), Core answers, admin sends the CommandResult, and the server
# stores it and sends the `result` event, which ends the round trip.
# Peer: a broker configured as run.sh's (TLS 1.3, client certificates), a
# commander client that publishes the same command to kos/ID/cmd and a
# device client that answers on kos/ID/result. Both sides are timed by the
# same Python client (studio_client.py), one command at a time.
#
# Environment: RUNS (3), N (300 round trips per side and run), SIDES
# ("kos mqtt"). The sides alternate which goes first from run to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/dev}
RUNS=${RUNS:-3}
N=${N:-300}
SIDES=${SIDES:-kos mqtt}
client=bench/link/studio_client.py
. bench/link/device_lib.sh
gen=$build/bench/link/link_load
[ -x "$gen" ] && [ -x "$mosquitto" ] ||
  die "needs $gen (cmake --build --preset dev) and mosquitto (scripts/install-deps.sh)"

results=$WORK/results
side() { case " $SIDES " in *" $1 "*) return 0 ;; esac; return 1; }

if side kos; then
  start_studio
  start_device rtt ""
fi
if side mqtt; then
  mkdir -p "$WORK/mq"
  "$gen" certs --certs "$WORK/mq"
  for who in commander device; do
    openssl genpkey -algorithm ed25519 -out "$WORK/mq/$who.key" 2>/dev/null
    openssl req -new -x509 -key "$WORK/mq/$who.key" -subj "/CN=$who" -days 2 \
      -CA "$WORK/mq/ca.crt" -CAkey "$WORK/mq/ca.key" -out "$WORK/mq/$who.crt" 2>/dev/null ||
      die "cannot certify the MQTT client $who"
  done
  start_mosquitto
  started+=("$mq_pid")
  python3 "$client" mqtt-device --port "$mq_port" --certs "$WORK/mq" --id rtt >"$WORK/mqdev.txt" &
  started+=("$!")
  for _ in $(seq 50); do grep -q ready "$WORK/mqdev.txt" && break; sleep 0.1; done
  grep -q ready "$WORK/mqdev.txt" || die "the MQTT device client did not connect"
fi

echo "# kos-server $("$build/bin/kos-server" --version 2>/dev/null | head -1), $("$mosquitto" -h | head -1)," \
  "$(nproc) CPUs; $N round trips per side and run"
kos_rtt() {
  side kos || return 0
  python3 "$client" rtt --url "$URL" --secret "$SECRET" --device "$ID" --n "$N" |
    sed "s/^/run=$1 /" | tee -a "$results"
}
mqtt_rtt() {
  side mqtt || return 0
  python3 "$client" mqtt-rtt --port "$mq_port" --certs "$WORK/mq" --id rtt --n "$N" |
    sed "s/^/run=$1 /" | tee -a "$results"
}
for run in $(seq "$RUNS"); do
  alternate "$run" kos_rtt mqtt_rtt
done

awk "$kv_awk"'
{ run = v($0, "run"); who = $3; p50[run, who] = v($0, "p50_ms"); p99[run, who] = v($0, "p99_ms")
  if (run > maxrun) maxrun = run }
END {
  print ""
  print "command round trip, ms: median [p99]"
  printf "%-4s %-20s %-20s %s\n", "run", "KOS (Studio-device)", "MQTT (Mosquitto)", "KOS/MQTT (median, p99)"
  for (r = 1; r <= maxrun; r++) if (p50[r, "kos"] != "" && p50[r, "mqtt"] != "")
    printf "%-4s %-20s %-20s %.1f, %.1f\n", r, sprintf("%.2f [%.2f]", p50[r, "kos"], p99[r, "kos"]),
      sprintf("%.2f [%.2f]", p50[r, "mqtt"], p99[r, "mqtt"]),
      p50[r, "kos"] / p50[r, "mqtt"], p99[r, "kos"] / p99[r, "mqtt"]
}' "$results"
