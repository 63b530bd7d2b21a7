# admin's remote debugging against a hostile server (docs/packages/admin.md,
# "Remote debugging"): a Poukai system on sim whose rng_server is marked
# debug: true, linked to link_server.py in its debug mode, which sends raw
# DebugDown messages on the debug channel: a message that is no DebugDown,
# data for no session, opens of a bad name, an unknown app and an app not
# marked debug: true, then an open of rng_server; once it is open, a second
# open, gdb's "$?" packet (answered by the real gdbserver Core attached),
# and a close; then a message longer than the tunnel hands an app at once
# and a burst of 40 opens. With debugging enabled each is answered (the
# refusals with their status and why), gdbserver answers, the session ends
# and rng_server serves on; with it disabled every open is answered
# "disabled", nothing reaches Core, and the device says so once. Neither
# crashes nor stalls the device.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"
source "$(dirname "$0")/link_lib.sh"

# boot DEBUG: the system with remote_debug DEBUG linked to a fresh server.
boot() { boot_linked debug debug "$1"; }

: >"$WORK/server.out"
boot enabled
srv_wait 1 "^debug closed 11 refused: not a DebugDown message \(3 bytes\)$"
srv_wait 1 "^debug opened 1 '\.\./x' is not an app name"
srv_wait 1 "^debug opened 2 no app 'nosuch' in this system$"
srv_wait 1 "^debug opened 3 app 'log_server' is not marked debug: true in the manifest"
srv_wait 1 "^debug opened 0 gdbserver attached to app 'rng_server'$"
srv_wait 1 "^debug opened 14 a debug session is open already \(on app 'rng_server'\): one at a time$"
srv_wait 1 '^debug data [0-9]+ \+?\$T'
srv_wait 1 "^debug script sent$"
wait_for "core: debug session on app 'rng_server' ended: gdbserver detached and exited$"
# After the close: the long message in pieces and the burst are refused.
srv_wait 2 "^debug closed 11 refused: not a DebugDown message"
srv_wait 40 "^debug opened 1 '' is not an app name"
expect "core: app 'admin' asked to debug app 'rng_server': gdbserver \(pid [0-9]+\) attached"
expect "admin: info: debug: the server closed the session on app 'rng_server'$"
# Refusals are logged within the budget (10 lines, then one per 10 s).
[ "$(grep -cE "admin: (info|warn): (debug: refused|refused a message on the debug)" "$OUT")" -le 10 ] ||
  fail "admin logged more refusals than its budget"
kill -0 "$(app_pid admin)" || fail "admin is gone"
kill -0 "$(app_pid rng_server)" || fail "rng_server is gone"
expect_not "core: app '(admin|rng_server)' (exited|killed)"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "admin: info: debug: 1 sessions, [0-9]+ messages refused$"
expect_well_formed

: >"$WORK/server.out"
boot disabled
srv_wait 1 "^debug script sent$"
srv_wait 40 "^debug opened 3 remote debugging is disabled on this device"
n=$(grep -cE "^debug (opened|closed|data)" "$WORK/server.out")
m=$(grep -cE "^debug (opened|closed) 3 remote debugging is disabled on this device" "$WORK/server.out")
[ "$n" -eq "$m" ] || fail "a disabled admin answered otherwise: $(grep -E '^debug' "$WORK/server.out" | grep -vE ' 3 remote' | head -3)"
expect_count 1 "admin: warn: refused a debug session asked by the server: remote debugging is disabled"
expect_not "asked to debug"
kill -0 "$(app_pid admin)" || fail "admin is gone"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
cleanup_srv
echo PASS
