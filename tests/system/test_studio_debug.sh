#!/bin/bash
# Remote debugging with every real piece (docs/studio.md "Debugging an
# app", docs/packages/admin.md "Remote debugging", docs/link.md "Debug"):
# a Studio, a provisioned device on sim whose development system enables
# admin's remote_debug and marks a ticking t_app debug: true, kos-tool
# debug in the background, and gdb --batch with t_app's binary for symbols:
# the breakpoint in the app is hit, the backtrace names t_app's functions,
# and the app ticks on after gdb detaches. Refused, each with a clear
# error: an app not marked debug: true, an unknown app, a bad app name, a
# second session, a client without the session's token, no secret,
# debugging disabled in admin (said once on the device's console within
# its budget), an offline device. A restart of the app while gdbserver
# holds it ends the session first, and the app restarts.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app), GDB (gdb).
. "$(dirname "$0")/studio_lib.sh"
DBG_PID=
stop_debug() { [ -z "$DBG_PID" ] || { kill "$DBG_PID" 2>/dev/null || true; wait "$DBG_PID" 2>/dev/null || true; DBG_PID=; }; }
# On failure, what kos-tool debug and gdb said too.
show_debug() {
  local f
  for f in dbg.out dbg.err gdb.out; do
    [ -s "$WORK/$f" ] && { echo "--- $f:" >&2; cat "$WORK/$f" >&2; }
  done
  return 0
}
trap 'rc=$?; [ $rc -eq 0 ] || show_debug; stop_debug; stop_device; cleanup' EXIT
GDB=${GDB:-gdb}
APPS='  ticker:
    binary: t_app
    args: [tick, "100"]
    memory: 8MiB
    debug: true
  plain:
    binary: t_app
    args: [tick, "1000"]
    memory: 8MiB'
count() { grep -cE -- "$1" "$CON" || true; }
ticks() { grep -cE "ticker: info: tick [0-9]+$" "$CON" || true; }

start_studio
provision_device bench-1

# ---- a development system with debugging enabled
ADMIN_CONFIG='{remote_debug: enabled}' build_system "$WORK/debug.zip" studio_device "$APPS" "profile: development"
boot_device "$WORK/debug.zip"
wait_online ticker
until_ok 20 "the ticker ticking" in_console "ticker: info: tick 3$"

# kos-tool debug in the background; it prints the gdb command.
PORT=$(free_port)
"$T" debug bench-1 ticker --port "$PORT" >"$WORK/dbg.out" 2>"$WORK/dbg.err" &
DBG_PID=$!
until_ok 30 "kos-tool debug printing the gdb command" grep -q "^target remote 127.0.0.1:$PORT$" "$WORK/dbg.out"
until_ok 10 "Core saying it attached gdbserver" \
  in_console "core: app 'admin' asked to debug app 'ticker': gdbserver \(pid [0-9]+\) attached to its process"
until_ok 10 "admin saying the session is open" in_console "admin: info: debug: session open on app 'ticker'"

timeout 120 "$GDB" --batch -nx -ex 'set sysroot /' -ex 'set pagination off' \
  -ex "target remote 127.0.0.1:$PORT" -ex 'break t_app_tick_once' -ex 'continue' -ex 'bt' \
  -ex 'print n' -ex 'detach' "$KOS_T_APP" >"$WORK/gdb.out" 2>&1 ||
  { cat "$WORK/gdb.out" >&2; die "gdb failed"; }
grep -Eq "^Breakpoint 1, (0x[0-9a-f]+ in )?t_app_tick_once \(" "$WORK/gdb.out" ||
  { cat "$WORK/gdb.out" >&2; die "the breakpoint in the app was not hit"; }
grep -Eq "^#0 +(0x[0-9a-f]+ in )?t_app_tick_once " "$WORK/gdb.out" || { cat "$WORK/gdb.out" >&2; die "no t_app_tick_once in the backtrace"; }
grep -Eq "^#1 +(0x[0-9a-f]+ in )?tick " "$WORK/gdb.out" || { cat "$WORK/gdb.out" >&2; die "no tick in the backtrace"; }
grep -Eq "^#[0-9]+ +(0x[0-9a-f]+ in )?main " "$WORK/gdb.out" || { cat "$WORK/gdb.out" >&2; die "no main in the backtrace"; }
# kos-tool ends with the session; Core says gdbserver went; the app ticks on.
for _ in $(seq 100); do kill -0 "$DBG_PID" 2>/dev/null || break; sleep 0.2; done
kill -0 "$DBG_PID" 2>/dev/null && die "kos-tool debug did not end after gdb detached"
wait "$DBG_PID" || die "kos-tool debug: exit status $?"
DBG_PID=
grep -q "^kos-tool debug: the debug session ended" "$WORK/dbg.err" || { cat "$WORK/dbg.err" >&2; die "kos-tool debug did not say the session ended"; }
until_ok 20 "Core saying the session ended" in_console "core: debug session on app 'ticker' ended: gdbserver detached and exited$"
before=$(ticks)
until_ok 20 "the ticker ticking after gdb detached" sh -c "[ \$(grep -cE 'ticker: info: tick [0-9]+$' '$CON') -gt $((before + 3)) ]"
[ "$(count "core: app 'ticker' .*restarting")" -eq 0 ] || die "the ticker was restarted"

# ---- refusals, each with the device's or Studio's reason
run 1 debug bench-1 plain
expect err "^kos-tool debug: cannot debug app 'plain' of device 'bench-1': app 'plain' is not marked debug: true in the manifest"
run 1 debug bench-1 nosuchapp
expect err "^kos-tool debug: cannot debug app 'nosuchapp' of device 'bench-1': no app 'nosuchapp' in this system$"
run 1 debug bench-1 msg0
expect err "message server 'msg0' is not marked debug: true"
run 1 debug bench-1 '../etc'
expect err "\"app\" must be an app's name"
run 1 debug nosuch ticker
expect err "^kos-tool debug: Studio knows no device 'nosuch'"
run 2 debug bench-1
expect err "which app\?"
run 2 debug bench-1 ticker --port 70000
expect err "port"
# A second session while one is open: refused by Studio, one per device.
"$T" debug bench-1 ticker >"$WORK/dbg.out" 2>"$WORK/dbg.err" &
DBG_PID=$!
until_ok 30 "the first session open" grep -q "^target remote 127.0.0.1:" "$WORK/dbg.out"
run 1 debug bench-1 ticker
expect err "has a debug session already"
# A restart of the app while gdbserver holds it (stopped since the attach):
# Core ends the session first, the app restarts and ticks on, and kos-tool
# ends, saying the device ended the session.
api_post "api/devices/$ID/commands" '{"restart_app": "ticker"}' >/dev/null || die "POST restart_app"
until_ok 20 "Core ending the session for the restart" \
  in_console "core: debug session on app 'ticker' ended: the app is being stopped; gdbserver \(pid [0-9]+\) killed$"
until_ok 20 "the ticker restarted" in_console "core: app 'ticker' stopped for the restart app 'admin' asked for; starting it again$"
for _ in $(seq 100); do kill -0 "$DBG_PID" 2>/dev/null || break; sleep 0.2; done
wait "$DBG_PID" || die "kos-tool debug: exit status $? after the device ended the session"
DBG_PID=
grep -q "the device ended the session before gdb connected" "$WORK/dbg.err" || { cat "$WORK/dbg.err" >&2; die "kos-tool debug did not say the device ended the session"; }
before=$(ticks)
until_ok 20 "the ticker ticking after its restart" sh -c "[ \$(grep -cE 'ticker: info: tick [0-9]+$' '$CON') -gt $((before + 3)) ]"
# The API itself: the secret is required, the body checked.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"app":"ticker"}' "${URL}api/devices/$ID/debug")
[ "$code" = 401 ] || die "POST debug without the secret: HTTP $code"
code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $SECRET" \
  -H "Content-Type: application/json" -d '{"app":"ticker","x":1}' "${URL}api/devices/$ID/debug")
[ "$code" = 400 ] || die "POST debug with an unknown field: HTTP $code"
# A client that connects without the token: the session ends, the app runs on.
api_post "api/devices/$ID/debug" '{"app":"ticker"}' >"$WORK/answer.json" || die "POST debug"
sport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$WORK/answer.json")
python3 - "$sport" <<'PY' || die "the session's port took a client without its token"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"KOS-DEBUG 00000000000000000000000000000000\n$g#67")
s.settimeout(30)
sys.exit(0 if s.recv(100) == b"" else 1)
PY
until_ok 20 "Core ending the session of the client without a token" \
  sh -c "[ \$(grep -c \"core: debug session on app 'ticker' ended\" '$CON') -ge 3 ]"
kill -0 "$DEV_PID" || die "the device's system ended"
stop_device

# ---- debugging disabled (the layer's default): refused, said once
unset ADMIN_CONFIG
build_system "$WORK/nodebug.zip" studio_device "$APPS" "profile: development"
boot_device "$WORK/nodebug.zip"
wait_online ticker
run 1 debug bench-1 ticker
expect err "remote debugging is disabled on this device \(admin's remote_debug setting is disabled"
run 1 debug bench-1 ticker
until_ok 10 "admin saying it refused" in_console "admin: warn: refused a debug session asked by the server: remote debugging is disabled"
[ "$(count "refused a debug session asked by the server")" -eq 1 ] || die "the refusals were logged $(count "refused a debug session asked by the server") times"
[ "$(count "asked to debug")" -eq 0 ] || die "a disabled admin asked Core to debug"

# ---- offline
stop_device
until_ok 30 "the device shown offline" device_is state offline
run 1 debug bench-1 ticker
expect err "^kos-tool debug: device 'bench-1' \([0-9a-f]{16}\) is offline, not online"
echo PASS
