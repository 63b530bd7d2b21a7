#!/usr/bin/env bash
# Runs the Poukai service benchmarks: bench/poukai/run.sh BUILD_DIR
# Boots each bench image with kos-tool run and prints the bench lines. The
# key_store bench gets a device key bundle made for the run (and removed).
set -euo pipefail
build=${1:-build/dev}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$build/bin/kos-tool" keys.generate --device --out "$keys/device" >/dev/null
for sys in bench_rng bench_log_mem bench_log_sync bench_keystore; do
  "$build/bin/kos-tool" run --trust "$build/kos-keys/release.pub" --keys "$keys/device" \
    "$build/bench/poukai/$sys.zip" 2>&1 | grep -E 'bench: (info|error)' | sed -E 's/^\S+ //'
done
