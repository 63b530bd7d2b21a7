# Records log_server acknowledged survive a restart of the log server (it is
# killed with SIGKILL and Core restarts it); its store file reads offline;
# a damaged store is reported at the next start, its valid records kept and
# the file repaired.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

STATE=$WORK/state
STORE=$STATE/data/log_server/kos_log.store
mkdir -p "$STATE"
chmod 755 "$WORK" "$STATE" # the sandboxed apps must reach their data directories

start_image "$KOS_IMAGES/log_persist.zip" --state-dir "$STATE"
wait_for "writer: info: persist: wrote 200, acknowledged 200$"
expect "log_server: info: persisting to /data/kos_log.store \(max_bytes 262144, fsync on\): loaded 0 records, next seq 1$"
pid=$(app_pid log_server) || fail "log_server is not running"
kill -KILL "$pid"
wait_for "writer: info: persist: found [0-9]+ records"
expect "core: app 'log_server' killed by signal 9"
expect "log_server: info: persisting to /data/kos_log.store .*: loaded 200 records, next seq 201$"
expect "writer: info: persist: found 200 records in order yes in [0-9]+ pages \(ok\)$"
wait_for "watcher: info: watch: restart 1: found 200 records of writer in order yes \(ok\)$"

# Offline: the store file as console lines.
[ -f "$STORE" ] || fail "no store file at $STORE"
"$KOS_TOOL" log.view --store "$STORE" >"$WORK/dump.txt" || fail "the store is damaged after a clean run"
[ "$(grep -cE '^[0-9T:.-]+Z writer: info: persist [0-9]+$' "$WORK/dump.txt")" -eq 200 ] ||
  fail "the offline reader did not find 200 records"

# A torn last write: reported, the valid part kept.
size=$(stat -c %s "$STORE")
truncate -s $((size - 7)) "$STORE"
set +e
"$KOS_TOOL" log.view --store "$STORE" >"$WORK/dump.txt" 2>"$WORK/err.txt"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "offline reader: exit $rc for a truncated store, expected 1"
grep -q "store damaged (truncated)" "$WORK/err.txt" || fail "offline reader: $(cat "$WORK/err.txt")"
[ "$(grep -c 'writer: info: persist ' "$WORK/dump.txt")" -eq 199 ] || fail "offline: valid part lost"

# Garbage in the middle too; restart log_server: it reports the damage,
# keeps the valid records and repairs the file.
printf 'GARBAGE-GARBAGE-GARBAGE' | dd of="$STORE" bs=1 seek=2000 conv=notrunc status=none
pid=$(app_pid log_server) || fail "log_server is not running"
kill -KILL "$pid"
wait_for "watcher: info: watch: restart 2: found [0-9]+ records"
expect "log_server: warn: store /data/kos_log.store is damaged: [0-9]+ bytes in 2 region\(s\) from offset [0-9]+ skipped, truncated; [0-9]+ valid records kept$"
found=$(grep -oE 'watch: restart 2: found [0-9]+' "$OUT" | grep -oE '[0-9]+$')
[ "$found" -ge 195 ] && [ "$found" -lt 200 ] || fail "after damage found $found records, expected 195..199"
"$KOS_TOOL" log.view --store "$STORE" >"$WORK/dump.txt" || fail "the server did not repair the damaged store"
[ "$(grep -c 'writer: info: persist ' "$WORK/dump.txt")" -eq "$found" ] || fail "repaired store differs"
stop_image TERM
expect_not "log_server: error"
expect_well_formed
echo "PASS"
