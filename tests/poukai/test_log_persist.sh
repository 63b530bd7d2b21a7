# Records log_server acknowledged survive a restart of the log server (it is
# killed with SIGKILL and Core restarts it); its store file reads offline;
# a damaged store is reported at the next start, its valid records kept and
# the file repaired.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"

STATE=$WORK/state
# log_server's /data: its own file system (an image) where Core can mount,
# else a plain directory (docs/sandbox.md, "Data directories").
IMG=$STATE/data/log_server.img
STORE=$WORK/kos_log.store

# store_get: copies the store out of log_server's data to $STORE (debugfs
# reads an image without mounting it; the system must be stopped).
store_get() {
  rm -f "$STORE"
  if [ -f "$IMG" ]; then
    debugfs -R "dump /kos_log.store $STORE" "$IMG" >/dev/null 2>&1
  else
    cp "$STATE/data/log_server/kos_log.store" "$STORE"
  fi
  [ -f "$STORE" ] || fail "no store file in log_server's data ($STATE/data)"
}

# store_put: puts $STORE back in log_server's data, owned as the data's top
# is.
store_put() {
  local owner group
  if [ -f "$IMG" ]; then
    read -r owner group < <(debugfs -R "stat /" "$IMG" 2>/dev/null |
      sed -n 's/^User: *\([0-9]*\) *Group: *\([0-9]*\).*/\1 \2/p')
    printf '%s\n' "rm /kos_log.store" "write $STORE kos_log.store" \
      "sif /kos_log.store uid $owner" "sif /kos_log.store gid $group" |
      debugfs -w -f - "$IMG" >/dev/null 2>&1
  else
    cp "$STORE" "$STATE/data/log_server/kos_log.store"
  fi
}

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
stop_image TERM
expect_not "log_server: error"

# Offline: the store file as console lines.
store_get
"$KOS_TOOL" log.view --store "$STORE" >"$WORK/dump.txt" || fail "the store is damaged after a clean run"
[ "$(grep -cE '^[0-9T:.-]+Z writer: info: persist [0-9]+$' "$WORK/dump.txt")" -eq 200 ] ||
  fail "the offline reader did not find 200 records"
# kos-tool reads the store out of log_server's image itself.
if [ -f "$IMG" ]; then
  "$KOS_TOOL" log.view --store "$IMG" --app writer >"$WORK/img.txt" ||
    fail "log.view --store IMAGE: exit status $?"
  cmp -s <(grep ' writer: ' "$WORK/dump.txt") "$WORK/img.txt" ||
    fail "log.view --store IMAGE differs from the store copied out"
fi

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

# Garbage in the middle too, put back in log_server's data: at the next boot
# with the same state directory log_server reports the damage, keeps the
# valid records and repairs the file.
printf 'GARBAGE-GARBAGE-GARBAGE' | dd of="$STORE" bs=1 seek=2000 conv=notrunc status=none
store_put
start_image "$KOS_IMAGES/log_persist.zip" --state-dir "$STATE"
wait_for "writer: info: persist: found [0-9]+ records"
expect "log_server: warn: store /data/kos_log.store is damaged: [0-9]+ bytes in 2 region\(s\) from offset [0-9]+ skipped, truncated; [0-9]+ valid records kept$"
found=$(grep -oE 'persist: found [0-9]+' "$OUT" | grep -oE '[0-9]+$')
[ "$found" -ge 195 ] && [ "$found" -lt 200 ] || fail "after damage found $found records, expected 195..199"
stop_image TERM
store_get
"$KOS_TOOL" log.view --store "$STORE" >"$WORK/dump.txt" || fail "the server did not repair the damaged store"
[ "$(grep -c 'writer: info: persist ' "$WORK/dump.txt")" -eq "$found" ] || fail "repaired store differs"
expect_not "log_server: error"
expect_well_formed
echo "PASS"
