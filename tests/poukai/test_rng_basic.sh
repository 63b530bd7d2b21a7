# rng_server in a real system: reads differ, any length works, bad requests
# get errors and do not crash it, an app without the grant is refused, and a
# restart of rng_server gives output never seen before.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

start_image "$KOS_IMAGES/rng_basic.zip"
wait_for "rng_user: info: rng waiting for a restart$"
expect "rng_server: info: seeded from the kernel; reseeding every 60000 ms or 1048576 bytes$"
expect "rng_user: info: rng reads differ: yes$"
expect "rng_user: info: rng big read ok: 12305 bytes; server served 12369 bytes in 6 requests, 1 reseeds$"
expect "rng_user: info: rng bad: unknown label: unsupported$"
expect "rng_user: info: rng bad: oversize read: invalid argument$"
expect "rng_user: info: rng bad: huge param: invalid argument$"
expect "rng_user: info: rng bad: payload: invalid argument$"
expect "rng_user: info: rng zero read: ok, 0 bytes$"
expect "rng_user: info: rng still serves: ok, 16 bytes$"
wait_for "rng_stranger: info: request kos_rng_protocol: unauthorized$"
expect "msg0: .*denied.*'rng_stranger'.*'kos_rng_protocol'"

pid=$(app_pid rng_server) || fail "rng_server is not running"
kill -KILL "$pid"
wait_for "rng_user: info: rng after restart: [0-9a-f]{64}$"
expect "core: app 'rng_server' killed by signal 9"
r1=$(grep -oE 'rng read 1: [0-9a-f]{64}$' "$OUT" | cut -d' ' -f4)
r2=$(grep -oE 'rng read 2: [0-9a-f]{64}$' "$OUT" | cut -d' ' -f4)
r3=$(grep -oE 'rng after restart: [0-9a-f]{64}$' "$OUT" | cut -d' ' -f4)
[ -n "$r1" ] && [ -n "$r2" ] && [ -n "$r3" ] || fail "missing reads"
[ "$r1" != "$r3" ] && [ "$r2" != "$r3" ] || fail "output repeated after a restart"
[ "$(grep -c 'rng_server: info: seeded from the kernel' "$OUT")" -eq 2 ] ||
  fail "rng_server did not reseed at its restart"
expect_not "rng_server: error"

stop_image TERM
expect "rng_server: info: stopping on request$"
expect "core: app 'rng_server' stopped$"
expect_well_formed
echo "PASS"
