#!/usr/bin/env bash
# bench/link/log_rate.sh [BUILD_DIR] - log records per second from an app
# on a device to a Studio's event stream, against the rate log_server
# itself takes them from that app, in the same run.
#
# Each run: a Studio, an event stream open on it for the device
# (studio_client.py logs), then a Poukai system on sim linked to it
# (device_lib.sh) with one more app, bench (bench_poukai flood N WAIT_MS):
# once the link is up (it waits WAIT_MS) it writes N records through
# log_server as fast as log_server takes them, one synchronous call each,
# and logs that rate (the peer: log_server's own local rate). admin reads
# them from log_server and sends them on the link; the stream counts those
# that arrive, from the first to the last. log_server's per-app rate limit
# is off for the run (`rate: 0`; Poukai's default, 100 records/s with a
# burst of 200, would bound both sides); the rest is Poukai's defaults.
#
# Environment: RUNS (3), N (20000 records), WAIT_MS (8000), RING (Poukai's
# 1024: log_server's ring, from which admin reads), FSYNC (Poukai's true:
# log_server syncs each record before it answers; false: it does not).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/dev}
RUNS=${RUNS:-3}
N=${N:-20000}
WAIT_MS=${WAIT_MS:-8000}
RING=${RING:-1024}
FSYNC=${FSYNC:-true}
client=bench/link/studio_client.py
bench_app=$build/bench/poukai/bench_poukai
. bench/link/device_lib.sh
[ -x "$bench_app" ] || die "$bench_app is missing (cmake --build --preset dev)"

results=$WORK/results
echo "# kos-server $("$build/bin/kos-server" --version 2>/dev/null | head -1), $(nproc) CPUs;" \
  "$N records per run, log_server ring $RING, fsync $FSYNC"
for run in $(seq "$RUNS"); do
  start_studio
  # The device's id is known once it is provisioned, before it boots: the
  # stream is opened in between (start_device's hook).
  stream() {
    python3 "$client" logs --url "$URL" --secret "$SECRET" --device "$ID" --app bench \
      --n "$N" >"$WORK/stream.txt" &
    stream_pid=$!
    started+=("$stream_pid")
    for _ in $(seq 50); do grep -q ready "$WORK/stream.txt" && return 0; sleep 0.1; done
    die "the event stream did not open"
  }
  BEFORE_BOOT=stream start_device "logs$run" "  log_server:
    config: {rate: 0, ring_size: $RING, fsync: $FSYNC}
  bench:
    binary: bench_poukai
    args: [flood, \"$N\", \"$WAIT_MS\"]
    memory: 16MiB
    restart: temporary
    protocols:
      msg0: {request: [kos_log_protocol]}" "bench_poukai=$bench_app"
  grep -q "bench flood: writing" "$CON" &&
    echo "log_rate.sh: warning: the bench began before the link was up (raise WAIT_MS)" >&2
  wait "$stream_pid" || die "the event stream failed"
  local_line=$(grep -o "bench flood $N records: log_server [0-9]* records/s ([0-9]* dropped)" "$CON" || true)
  [ -n "$local_line" ] || die "no rate from the bench app"
  rate=$(echo "$local_line" | awk '{ print $6 }')
  busy=$(echo "$local_line" | awk '{ print substr($8, 2) }')
  echo "run=$run logs local per_s=$rate busy=$busy" | tee -a "$results"
  grep -v '^ready' "$WORK/stream.txt" | sed "s/^/run=$run /" | tee -a "$results"
  stop_device
  "$tool" server.stop >/dev/null 2>&1 || true
  rm -rf "$DATA" "$WORK/dev" "$WORK/state"
done

awk "$kv_awk"'
{ run = v($0, "run"); who = $3; rate[run, who] = v($0, "per_s"); if (run > maxrun) maxrun = run
  if (who == "stream") { got[run] = v($0, "n"); lost[run] = v($0, "dropped") } }
END {
  print ""
  print "log records per second"
  printf "%-4s %-22s %-26s %s\n", "run", "log_server (local)", "Studio stream [arrived, dropped]", "stream/local"
  for (r = 1; r <= maxrun; r++) if (rate[r, "local"] != "" && rate[r, "stream"] != "")
    printf "%-4s %-22s %-26s %.2f\n", r, rate[r, "local"],
      sprintf("%s [%s, %s]", rate[r, "stream"], got[r], lost[r]), rate[r, "stream"] / rate[r, "local"]
}' "$results"
