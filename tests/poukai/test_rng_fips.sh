# 2.5 MB from rng_server through kos_rng_protocol, tested with rng-tools'
# rngtest (the FIPS 140-2 battery: 1000 blocks of 20000 bits). A good
# generator fails about 1 block in 1250 by chance, so allow a few.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

command -v rngtest >/dev/null || fail "rngtest not found: install rng-tools5 (scripts/install-deps.sh)"
run_image "$KOS_IMAGES/rng_fips.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "rng_dump: info: rng dump done: 2500000 bytes$"
grep -oE 'rng_dump: info: rng data: [0-9a-f]+$' "$OUT" | cut -d' ' -f5 | xxd -r -p >"$WORK/random.bin"
size=$(stat -c %s "$WORK/random.bin")
[ "$size" -eq 2500000 ] || fail "got $size bytes from the console, expected 2500000"
set +e
rngtest <"$WORK/random.bin" >"$WORK/rngtest.txt" 2>&1
set -e
cat "$WORK/rngtest.txt"
ok=$(sed -nE 's/^rngtest: FIPS 140-2 successes: ([0-9]+)$/\1/p' "$WORK/rngtest.txt")
bad=$(sed -nE 's/^rngtest: FIPS 140-2 failures: ([0-9]+)$/\1/p' "$WORK/rngtest.txt")
[ -n "$ok" ] && [ -n "$bad" ] || fail "cannot read rngtest's results"
[ $((ok + bad)) -ge 999 ] || fail "rngtest ran only $((ok + bad)) blocks"
[ "$bad" -le 5 ] || fail "rngtest: $bad of $((ok + bad)) blocks failed (at most 5 expected)"
# The same data must not repeat inside the sample (no 64-byte block twice).
dups=$(od -An -v -tx1 -w64 "$WORK/random.bin" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups repeated 64-byte blocks"
echo "PASS: rngtest $ok successes, $bad failures"
