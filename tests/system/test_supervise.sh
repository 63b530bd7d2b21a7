# Restart policies, the restart-intensity limit, the state summary, and a
# clean shutdown on SIGTERM while some apps have failed.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/supervise.zip"
wait_for "core: app 'crash_loop' killed by signal 11 .* after [0-9]+ ms; it failed: 2 restarts in a row, each after a run shorter than 60000 ms, reached its limit \(restart_limit: \{max: 2, period: 60000 ms\}\); not restarting it$"
wait_for "core: app 'flaky' exited with status 4 after [0-9]+ ms; it failed: 1 restarts in a row"
# A slow crash loop (a run of 600 ms each time, restarts further apart than
# any window of 1 s would count) is caught as well: every run is shorter
# than restart_limit.period.
wait_for "core: app 'slow_loop' exited with status 5 after [0-9]+ ms; it failed: 2 restarts in a row, each after a run shorter than 1000 ms"
wait_for "core: app 'once' exited with status 3 \(temporary: not restarted\)$"
wait_for "core: app 'clean' exited with status 0 \(transient: not restarted\)$"
# Restarts back off: restart_delay.first (100 ms by default), doubled each time.
expect "core: app 'crash_loop' killed by signal 11 \(Segmentation fault\) after [0-9]+ ms; restarting it in 100 ms \(permanent, restart 1 of 2 in a row\)$"
expect "core: app 'crash_loop' killed by signal 11 \(Segmentation fault\) after [0-9]+ ms; restarting it in 200 ms \(permanent, restart 2 of 2 in a row\)$"
expect "core: app 'flaky' exited with status 4 after [0-9]+ ms; restarting it in 100 ms \(transient, restart 1 of 1 in a row\)$"
expect "core: app 'slow_loop' exited with status 5 after [0-9]+ ms; restarting it in 50 ms \(permanent, restart 1 of 2 in a row\)$"
expect "core: app 'slow_loop' exited with status 5 after [0-9]+ ms; restarting it in 100 ms \(permanent, restart 2 of 2 in a row\)$"
# Core waits out each delay (at least: a loaded machine only makes it longer):
# from the line announcing "in 200 ms" to the next start's first line.
gap_ms() { # gap_ms REGEX_BEFORE REGEX_AFTER: ms from the first line matching one to the next matching the other
  awk -v a="$1" -v b="$2" '
    function t(s,  x) { split(substr(s, 12, 15), x, ":"); return (x[1] * 3600 + x[2] * 60 + x[3]) * 1000 }
    $0 ~ a && !seen { seen = 1; t0 = t($1); next }
    seen && $0 ~ b { printf "%d\n", t($1) - t0; exit }' "$OUT"
}
gap=$(gap_ms "crash_loop' .*restarting it in 200 ms" "crash_loop: info: about to crash")
[ -n "$gap" ] && [ "$gap" -ge 200 ] || fail "crash_loop was restarted ${gap:-?} ms after 'in 200 ms'"
expect_count 3 "crash_loop: info: about to crash$"
expect_count 1 "once: info: exiting with status 3$"
expect_not "shutting down"

# The system goes on: steady still runs, and Core reports states on demand.
kill -USR1 "$PID"
wait_for "core:   steady +app +running, ready +restarts 0"
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
