# The Poukai layer with services left out by name (key_store, and the
# optional tunnel and admin) and the self test told to skip the key store:
# the rest boots, every check that remains passes, and `ping` pings an
# extra protocol. Then the self-test app ending without a report (failed),
# and the system ending before it reports (incomplete, not a failure); a
# self test that hangs, failed at its deadline.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

start_image "$KOS_IMAGES/poukai_lean.zip" --state-dir "$WORK/state"
wait_for "core: self test recorded in "
wait_for "sensor: info: services: done$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "core: booting system 'poukai_lean': 6 message servers and apps$"
expect_not "key_store"
expect_not "( (tunnel|admin): |'(tunnel|admin)')"
expect "core: self test passed: msg0 ok \(ping\); rng ok \(reads differ, monobit [0-9]+/20000\); log ok \(record [0-9]+ read back\); ping kos_rng_protocol ok \(4 checks\)$"
expect "sensor: info: rng: reads differ: yes"
expect "sensor: info: log: read back: ok found$"
expect "sensor: info: request kos_keystore_protocol: unauthorized$"
grep -qx "result passed" "$WORK/state/self_test" || fail "record: result"
grep -qx "checks 4" "$WORK/state/self_test" || fail "record: checks"
expect_well_formed

start_image "$KOS_IMAGES/poukai_noreport.zip" --state-dir "$WORK/noreport"
wait_for "core: self test recorded in "
wait_for "sensor: info: services: done$"
stop_image TERM
[ "$RC" -eq 5 ] || fail "noreport: exit status $RC, expected 5"
expect "core: self test failed: app 'self_test' exited with status 0 before it reported$"
grep -qx "result failed" "$WORK/noreport/self_test" || fail "noreport record: result"

run_image "$KOS_IMAGES/poukai_incomplete.zip" --state-dir "$WORK/incomplete"
[ "$RC" -eq 0 ] || fail "incomplete: exit status $RC, expected 0"
expect "core: shutting down: an app that ends the system has ended$"
expect "core: self test incomplete: (app 'self_test' (killed by signal 15 \\(Terminated\\)|exited with status [0-9]+) before it reported|the system began stopping before app 'self_test' reported; its report came during the stop \\([0-9] of 4 checks failed: .*\\))$"
grep -qx "result incomplete" "$WORK/incomplete/self_test" || fail "incomplete record: result"
expect_well_formed

# A self test that hangs fails at its deadline; the system runs on, and
# kos-tool run ends with status 5.
start_image "$KOS_IMAGES/poukai_hang.zip" --state-dir "$WORK/hang" --self-test-timeout 1500
wait_for "core: self test recorded in "
wait_for "sensor: info: services: done$"
kill -0 "$PID" || fail "hang: Core died"
stop_image TERM
[ "$RC" -eq 5 ] || fail "hang: exit status $RC, expected 5"
expect "core: self test failed: app 'self_test' did not report within 1500 ms of boot$"
expect_count 1 "core: self test (passed|failed|incomplete)"
grep -qx "result failed" "$WORK/hang/self_test" || fail "hang record: result"
expect_well_formed

# A bad value is a usage error.
run_image "$KOS_IMAGES/poukai_hang.zip" --self-test-timeout 0
[ "$RC" -eq 2 ] || fail "--self-test-timeout 0: exit status $RC, expected 2"
expect "kos-tool run: --self-test-timeout takes milliseconds from 1 to 3600000, not '0'$"
echo "PASS"
