#!/usr/bin/env bash
# Runs the Poukai service benchmarks: bench/poukai/run.sh BUILD_DIR
# Boots each bench image with kos-tool run and prints the bench lines.
set -euo pipefail
build=${1:-build/dev}
for sys in bench_rng bench_log_mem bench_log_sync; do
  "$build/bin/kos-tool" run --trust "$build/kos-keys/release.pub" \
    "$build/bench/poukai/$sys.zip" 2>&1 | grep -E 'bench: (info|error)' | sed -E 's/^\S+ //'
done
