# Core's system interface (lib/sys_int.h, docs/running.md): the app with
# manages_system: true reads the state (which matches Core's summary),
# restarts an app (reported as asked for, not counted towards its
# restart_limit), is refused a message server and an unknown name, gets the
# console from the boot on, reboots the system; an app without the flag
# is refused and its channel closed; malformed requests close the channel;
# a console flood to an app that does not read is dropped and counted,
# never waited for.
source "$(dirname "$0")/lib.sh"

# ---- state, restarts, refusals, the console from the boot on ----
start_image "$KOS_IMAGES/sysif.zip"
wait_for "mgr: info: manager: done$"
wait_for "intruder: info: sysask: Core closed the control channel$"
kill -USR1 "$PID"
wait_for "^\S+ core:   mgr  "
stop_image TERM
[ "$RC" -eq 0 ] || fail "sysif: exit status $RC, expected 0"
expect "core: app 'mgr' manages the system \(manages_system: true\)"
expect "mgr: info: future: unsupported: this device's Core does not know request type 200: it is older than the app that asked$"
expect "core: app 'mgr' asked Core for something this Core does not know \\(request type 200\\): answered that it cannot$"
expect "mgr: info: stage-stranger: unsupported: this system was booted from an image file, not a boot store: it cannot be upgraded"
expect "mgr: info: console: the marker came back after [0-9]+ lines, 0 dropped; Core's boot line came too$"
expect "core: app 'intruder' asked Core for the system's state, but its manifest entry does not say manages_system: true; refusing it and closing its control channel$"
expect "intruder: info: sysask: Core closed the control channel$"
expect_count 3 "core: app 'mgr' asked to restart app 'worker' \(running, ready\): restarting it \(a restart asked for does not count towards its restart_limit\)$"
expect_count 3 "core: app 'worker' stopped for the restart app 'mgr' asked for; starting it again$"
expect_count 3 "mgr: info: restart worker: ok: app 'worker' restarted$"
expect "mgr: info: restart msg0: unsupported: 'msg0' is a message server: Core does not restart one"
expect "mgr: info: restart nosuch: not found: no app 'nosuch' in this system$"
expect_not "core: app 'worker' .*failed"
expect "mgr: info: status: system sysif, boot 1, platform sim, version [0-9.]+, signer [0-9a-f]{16}, manifest [0-9a-f]{64}, 4 processes, self test: none$"
expect "mgr: info: status: memory [1-9][0-9]* of 25165824 bytes, storage 0 of 0 bytes, uptime > 0$"
# The state as the interface says it is the summary's, line for line (the
# summary SIGUSR1 printed right after, the system unchanged in between).
grep -E "^\S+ mgr: info: status:   " "$OUT" | sed 's/^\S* mgr: info: status: //' >"$WORK/status"
awk '/ core: summary: 4 processes$/ {n++} n == 1 && / core:   / {print}' "$OUT" |
  sed 's/^\S* core: //' | head -4 >"$WORK/summary"
[ "$(wc -l <"$WORK/status")" -eq 4 ] || fail "the status listed $(wc -l <"$WORK/status") processes"
diff "$WORK/status" "$WORK/summary" >&2 || fail "the status and the summary differ"
grep -qE "^  worker +app +running, ready +restarts 3 \(3 asked for\), last exit: exited with status 0$" \
  "$WORK/summary" || fail "summary: worker's restarts asked for"
expect "core: app 'intruder' stopped by SIGTERM$"
expect_well_formed

# ---- a soft reboot ----
start_image "$KOS_IMAGES/sysif_reboot.zip"
wait_for "mgr: info: manager: done$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "reboot: exit status $RC, expected 0"
expect "mgr: info: reboot: ok: rebooting: the system stops and boots again from the same image$"
expect "core: shutting down: app 'mgr' asked for a reboot: the test asked$"
expect "core: app 'worker' stopped$"
expect "core: system stopped for a reboot \(app 'mgr' asked for a reboot: the test asked; this boot's exit status: 0\); booting it again$"
expect "core: booting system 'sysif_reboot' again \(soft reboot 1, the same image\): 3 message servers and apps$"
expect "mgr: info: boot 2: not rebooting$"
expect "mgr: info: status: system sysif_reboot, boot 2, "
expect "mgr: info: status:   worker +app +running, ready +restarts 0, last exit: none$"
expect_count 2 "core: system 'sysif_reboot' ready: 3 processes"
expect_count 1 "core: system stopped \(exit status 0\)$"
expect_well_formed

# ---- a flood to a manager that reads nothing; then a malformed credit ----
run_image "$KOS_IMAGES/sysif_flood.zip"
[ "$RC" -eq 0 ] || fail "flood: exit status $RC, expected 0"
expect_count 3000 "flooder: flood line [0-9]{5}$"
line=$(grep -E "mgr: info: console flood: " "$OUT") || fail "no flood report"
read -r got dropped uncovered < <(echo "$line" |
  sed -E 's/.*: ([0-9]+) of the flooder.s lines came, ([0-9]+) lines dropped and counted, ([0-9]+) gaps .*/\1 \2 \3/')
[ "$dropped" -gt 0 ] || fail "flood: nothing dropped ($line)"
[ "$uncovered" -eq 0 ] || fail "flood: lines missing without a count ($line)"
[ $((got + dropped)) -ge 3000 ] || fail "flood: $got came and $dropped counted, of 3000 ($line)"
expect "core: app 'mgr' sent a malformed request for the console lines \(type 12, 4 bytes\); closing its control channel$"
expect "mgr: info: malformed credit: Core closed the control channel$"
expect_well_formed

# ---- a malformed restart ----
start_image "$KOS_IMAGES/sysif_bad.zip"
wait_for "mgr: info: malformed name: Core closed the control channel$"
wait_for "core: app 'mgr' exited with status 0 \(temporary: not restarted\)$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "bad: exit status $RC, expected 0"
expect "core: app 'mgr' sent a malformed request for an app's restart \(type 9, 14 bytes\); closing its control channel$"
expect_well_formed
echo "PASS"
