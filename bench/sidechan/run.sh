#!/usr/bin/env bash
# Measures the CPU-contention covert channel between two sandboxed apps with
# no protocol between them: 200 bits at slots of 20, 5 and 1 ms, three runs
# each, each app trying to pin itself to CPU 0 (the sandbox refuses it), and
# at 5 ms with a sender that spins on every CPU at once; prints the raw rate, the error rate and the capacity of a binary
# symmetric channel with that error rate, rate * (1 - H(e)).
# Usage: bench/sidechan/run.sh [BUILD_DIR]   (default build/dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/dev}
tool=$build/bin/kos-tool
trust=$build/kos-keys/release.pub
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%-10s %-5s %-10s %-8s %s\n' "slot" "run" "raw bit/s" "errors" "capacity bit/s"
for p in ${PERIODS:-20000 5000 1000 5000_allcpus}; do
  for run in 1 2 3; do
    "$tool" run --trust "$trust" "$build/bench/sidechan/cpu_$p.zip" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 300); do
      grep -q "sidechan cpu:" "$out" && break
      sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    line=$(grep -oE "period [0-9]+ us, [0-9]+ bits, [0-9]+ errors" "$out" || true)
    how=$(grep -oE "\((not )?pinned\)" "$out" || true)
    [ -n "$line" ] || { echo "no result for $p us:"; cat "$out"; exit 1; }
    read -r us bits errs <<<"$(grep -oE "[0-9]+" <<<"$line" | tr '\n' ' ')"
    awk -v us="$us" -v bits="$bits" -v errs="$errs" -v run="$run" 'BEGIN {
      rate = 1e6 / us; e = errs / bits
      h = (e <= 0 || e >= 1) ? 0 : -(e * log(e) + (1 - e) * log(1 - e)) / log(2)
      printf "%-10s %-5d %-10.0f %-8s %.0f\n", us " us", run, rate, errs "/" bits, rate * (1 - h) }' | sed "s/\$/  $how/"
  done
done
