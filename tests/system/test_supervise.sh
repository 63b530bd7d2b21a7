# Restart policies, the restart-intensity limit, the state summary, and a
# clean shutdown on SIGTERM while some apps have failed.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/supervise.zip"
wait_for "core: app 'crash_loop' killed by signal 11 .*; it failed: 2 restarts within 60000 ms reached its limit of 2; not restarting it$"
wait_for "core: app 'flaky' exited with status 4; it failed: 1 restarts within 60000 ms"
wait_for "core: app 'once' exited with status 3 \(temporary: not restarted\)$"
wait_for "core: app 'clean' exited with status 0 \(transient: not restarted\)$"
expect "core: app 'crash_loop' killed by signal 11 \(Segmentation fault\); restarting it \(permanent, restart 1 of 2 within 60000 ms\)$"
expect "core: app 'crash_loop' killed by signal 11 \(Segmentation fault\); restarting it \(permanent, restart 2 of 2 within 60000 ms\)$"
expect "core: app 'flaky' exited with status 4; restarting it \(transient, restart 1 of 1 within 60000 ms\)$"
expect_count 3 "crash_loop: info: about to crash$"
expect_count 1 "once: info: exiting with status 3$"
expect_not "shutting down"

# The system goes on: steady still runs, and Core reports states on demand.
kill -USR1 "$PID"
wait_for "core:   steady +app +running +ready +restarts 0"
expect "core:   crash_loop +app +failed "
expect "core:   once +app +ended "
kill -0 "$PID" || fail "Core died"

stop_image TERM
[ "$RC" -eq 1 ] || fail "exit status $RC, expected 1 (apps failed)"
expect "core: shutting down: asked to stop \(SIGTERM\)$"
expect "steady: info: stopping on request$"
expect "core: system stopped \(exit status 1\)$"
expect_well_formed
echo "PASS"
