# admin (docs/packages/admin.md) in a system without a server: one line
# about the link, then quiet (no busy loop: its wake-ups are bounded by the
# console lines it takes), console lines buffered within offline_buffer with
# the overflow counted, its place in the log stream saved in its data
# directory; a bad setting stops it at start with a clear line.
source "$(dirname "$0")/../system/lib.sh"

start_image "$KOS_IMAGES/admin_idle.zip" --state-dir "$WORK/state"
wait_for "talker: line 01000 of 1000$"
wait_for "core: self test recorded in "
wait_for "admin: info: no link to a server"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "core: app 'admin' manages the system \(manages_system: true\)"
expect_count 1 "admin: info: no link to a server \(kos_tunnel_protocol: [a-z ]+\); keeping console lines in a buffer of 16384 bytes \(offline_buffer\) until there is one$"
# Nothing else from admin but its last line.
[ "$(grep -cE '^\S+ admin: ' "$OUT")" -eq 2 ] || fail "admin said more than two lines"
line=$(grep -E "admin: info: stopping on request: " "$OUT") || fail "no stopping line from admin"
read -r sent waiting bytes lost refused wakeups < <(echo "$line" | sed -E \
  's/.*: ([0-9]+) records sent, ([0-9]+) waiting \(([0-9]+) bytes\), ([0-9]+) lost on the device, ([0-9]+) messages from the server refused; ([0-9]+) wake-ups$/\1 \2 \3 \4 \5 \6/')
[ "$sent" -eq 0 ] || fail "records sent without a link: $line"
[ "$bytes" -le 16384 ] || fail "the buffer holds more than offline_buffer: $line"
[ "$waiting" -gt 0 ] || fail "nothing buffered: $line"
[ "$lost" -gt 0 ] || fail "a thousand lines in 16 KiB lost nothing: $line"
# No busy loop: a wake-up per console line taken at most, and a few for the
# clock (the tunnel retried at 1, 2, 4, ... s).
lines=$(wc -l <"$OUT")
[ "$wakeups" -le $((lines + 20)) ] || fail "$wakeups wake-ups for $lines console lines: $line"
expect "core: app 'admin' stopped$"
expect_well_formed
# Its place in the log stream: nothing sent, so the next seq is still 1.
if [ -f "$WORK/state/data/admin.img" ]; then
  debugfs -R 'cat /admin.state' "$WORK/state/data/admin.img" >"$WORK/admin.state" 2>/dev/null
else
  cp "$WORK/state/data/admin/admin.state" "$WORK/admin.state"
fi
grep -qx "seq 1" "$WORK/admin.state" || fail "admin.state: $(cat "$WORK/admin.state")"
grep -qx "cursor 0" "$WORK/admin.state" || fail "admin.state: $(cat "$WORK/admin.state")"

run_image "$KOS_IMAGES/admin_badconfig.zip"
[ "$RC" -eq 1 ] || fail "bad config: exit status $RC, expected 1"
expect "admin: error: config offline_buffer: '1KiB' is too small; write a size from 16KiB to 64MiB$"
expect "core: app 'admin' exited with status 1 \(temporary: not restarted\)$"
echo "PASS"
