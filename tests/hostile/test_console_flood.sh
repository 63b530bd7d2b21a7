# An app that floods its console cannot freeze Core: beside it, a ticker's
# numbered lines all arrive; the flooder's lines stay within the console
# budget, and the lines dropped are reported under core:; SIGTERM ends the
# system; a second SIGINT kills at once an app that ignores the first; and
# a child left flooding the pipe of an app that ended does not keep Core
# reading it. Nothing here is timed: the waits are generous bounds on what
# must happen at all.
source "$(dirname "$0")/../system/lib.sh"
SAFE="$(dirname "$0")/console_safe.py"
# The console's budget (core/console_int.h): a burst, then one line per ms.
BURST=5000
EVERY_MS=10

# wait_exit SECONDS: waits for the system started by start_image to end, at
# most that long; sets RC.
wait_exit() {
  for _ in $(seq $(($1 * 10))); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    kill -KILL "$PID"
    fail "Core did not end within $1 s"
  fi
  set +e
  wait "$PID"
  RC=$?
  set -e
}

# ticks_complete: the ticker's lines are tick 1, 2, ..., N and its summary
# says N.
ticks_complete() {
  local n
  n=$(sed -nE 's/.* ticker: info: ticker done: ([0-9]+) ticks$/\1/p' "$OUT")
  [ -n "$n" ] || fail "no ticker summary"
  [ "$n" -ge 20 ] || fail "the ticker logged only $n ticks"
  grep -oE ' ticker: info: tick [0-9]+$' "$OUT" | awk '{print $4}' >"$WORK/ticks"
  seq "$n" | cmp -s - "$WORK/ticks" || fail "the ticker's lines are not tick 1..$n in order"
}

echo "--- a flood of short lines, then SIGTERM"
start_image "$KOS_IMAGES/console_flood.zip" --console "$WORK/saved.log"
wait_for "core: system 'console_flood' ready"
wait_for "core: app 'flooder' writes its console too fast: [0-9]+ lines? dropped"
wait_for "ticker: info: tick 30$"
kill -0 "$PID" || fail "Core died"
kill -TERM "$PID"
wait_exit 30
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "core: shutting down: asked to stop \(SIGTERM\)$"
expect "core: app 'flooder' stopped( by SIGTERM)?$"
ticks_complete
expect_within_budget '^\S+ flooder: ' $BURST $EVERY_MS
# Every report counts lines, the budget's numbers with them, and the last
# comes at the end; each at most every 5 s, so few.
report="core: app 'flooder' writes its console too fast: [0-9]+ lines? dropped \(its budget: $BURST lines at once, then one per $EVERY_MS ms\)$"
expect "$report"
reports=$(grep -cE -- "$report" "$OUT")
span=$(grep -E -- "$report" "$OUT" | awk '
  { split(substr($1, 12, 15), t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
    if (NR == 1) first = s; last = s }
  END { print int(last - first) }')
[ "$reports" -le $((span / 5 + 2)) ] || fail "$reports drop reports in $span s"
dropped=$(grep -E -- "$report" "$OUT" | sed -E 's/.*too fast: ([0-9]+) lines? dropped.*/\1/' |
  awk '{ n += $1 } END { print n }')
[ "$dropped" -gt 0 ] || fail "no lines reported dropped"
# The report of the end follows the flooder's last line.
last_flood=$(grep -nE '^\S+ flooder: ' "$OUT" | tail -1 | cut -d: -f1)
last_report=$(grep -nE -- "$report" "$OUT" | tail -1 | cut -d: -f1)
[ "$last_report" -gt "$last_flood" ] || fail "no drop report after the flooder's last line"
cmp -s "$OUT" "$WORK/saved.log" || fail "the saved console differs from the printed one"
python3 "$SAFE" "$OUT" || fail "the console is not safe for a terminal"
expect_well_formed

echo "--- a flood of newlines from an app that ignores the stop; then a second signal"
start_image "$KOS_IMAGES/console_stubborn.zip" --grace 120000
wait_for "core: system 'console_stubborn' ready"
wait_for "flooder: info: flooding \(stubborn\)$"
wait_for "ticker: info: tick 20$"
kill -TERM "$PID"
wait_for "core: shutting down: asked to stop \(SIGTERM\)$"
wait_for "ticker: info: ticker done: [0-9]+ ticks$"
kill -0 "$PID" || fail "Core ended although the flooder ignores SIGTERM (grace 120 s)"
kill -INT "$PID"
# Well before the grace period could end: the second signal killed it.
wait_exit 30
expect "core: second stop request: killing everything now$"
expect "core: app 'flooder' killed \(SIGKILL\)$"
expect_not "did not stop within the grace period"
ticks_complete
expect_within_budget '^\S+ flooder: ' $BURST $EVERY_MS
expect "core: app 'flooder' writes its console too fast: [0-9]+ lines? dropped"
expect_well_formed

echo "--- a child floods the console of an app that has ended"
start_image "$KOS_IMAGES/console_orphan.zip" --isolation none
wait_for "core: system 'console_orphan' ready"
wait_for "flooder: info: flooding \(orphan\)$"
wait_for "core: app 'flooder' exited with status 0 \(temporary: not restarted\)$"
wait_for "ticker: info: tick 30$"
kill -TERM "$PID"
wait_exit 30
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
ticks_complete
expect_within_budget '^\S+ flooder: ' $BURST $EVERY_MS
expect_well_formed
echo "PASS"
