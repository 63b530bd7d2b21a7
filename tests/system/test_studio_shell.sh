#!/bin/bash
# The remote shell with every real piece (docs/studio.md "The shell",
# docs/packages/admin.md "The remote shell", docs/link.md "Shell"): a Studio,
# a provisioned device on sim whose development system enables admin's
# shell, and kos-tool toolbox.remote_shell reading lines from stdin. apps
# lists the apps; restart restarts one (Core says so); health, logs, dir,
# keys answer from the device; trace switches message tracing on and off; an
# unknown command is refused; hostile lines (too long, control bytes, not
# UTF-8) are refused without harm; a device whose system leaves the shell
# disabled refuses every line and says so on its console once within its
# budget; unknown and offline devices, and no Studio, are clear errors.
# Environment: KOS_TOOL, KOS_SERVER, KOS_TRUST and KOS_KEY (a release key
# pair), KOS_T_APP (tests/system/t_app).
. "$(dirname "$0")/studio_lib.sh"
trap 'stop_device; cleanup' EXIT
TICKER='  ticker:
    binary: t_app
    args: [tick, "200"]
    memory: 8MiB'

# sh_run STATUS INPUT DEVICE: pipes INPUT (printf's format) into
# toolbox.remote_shell DEVICE, stdout in $WORK/out, stderr in $WORK/err.
sh_run() {
  local want=$1 input=$2 rc=0
  shift 2
  # shellcheck disable=SC2059
  printf "$input" | "$T" toolbox.remote_shell "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || { show_device; fail "toolbox.remote_shell $* <<< '$input': exit status $rc, expected $want"; }
}
count() { grep -cE -- "$1" "$CON" || true; }

start_studio
provision_device bench-1

# ---- a development system with the shell enabled
ADMIN_CONFIG='{remote_shell: enabled}' build_system "$WORK/shell.zip" studio_device "$TICKER" "profile: development"
grep -q "KOS-A002" "$WORK/build.txt" || fail "the build did not flag the remote shell (KOS-A002)"
boot_device "$WORK/shell.zip"
wait_online ticker

sh_run 0 'apps\n' bench-1
expect out "^summary: [0-9]+ processes$"
expect out "^  ticker +app +running, ready +restarts 0, last exit: none$"
expect out "^  msg0 +message server +running, ready"
# The key id prefix names it too; help lists the commands.
sh_run 0 'help\n' "${ID:0:16}"
expect out "^  restart APP +stop app APP and start it again$"
expect out "^  keys +the device's keys"

sh_run 0 'restart ticker\n' "$ID"
expect out "^app 'ticker' restarted$"
until_ok 10 "admin logging the command" in_console "admin: info: shell: restart app 'ticker', asked by the server$"
until_ok 10 "Core restarting the ticker" \
  in_console "core: app 'ticker' stopped for the restart app 'admin' asked for; starting it again$"
sh_run 0 'apps\n' bench-1
expect out "^  ticker +app +running, ready +restarts 1 \(1 asked for\), last exit: "

sh_run 0 'health\nlogs ticker 3\ndir\nkeys\n' bench-1
expect out "^system studio_device, image [0-9a-f]{16} \(signed by [0-9a-f]{16}\), KOS [^ ]+ on sim$"
expect out "^self test: passed$"
expect out "^[0-9-]+ [0-9:.]+ ticker: (info: )?tick [0-9]+$"
expect out "^  msg0 kos_log_protocol: published by log_server \(running, ready\); requested by .*admin"
expect out "^  msg0 kos_tunnel_protocol: published by tunnel \(running, ready\); requested by admin$"
expect out "^  identity +ed25519 +[0-9a-f]{16} key pair, private half in key_store$"
expect out "^  identity_cert +x509 +[0-9a-f]{16} certificate$"

# Tracing switched on and off from the shell: Core does it and says so
# (what is traced reaches Studio as test_studio_trace.sh checks).
sh_run 0 'trace ticker on\ntrace ticker off\n' bench-1
expect out "^tracing app 'ticker' on$"
expect out "^tracing app 'ticker' off$"
until_ok 10 "Core saying admin asked for the ticker's tracing" \
  in_console "core: app 'admin' asked to trace the calls of app 'ticker' from now on$"
sh_run 1 'trace nosuchapp on\n' bench-1
expect err "nosuchapp"

# Refused, each saying why; the session goes on after each.
sh_run 1 'sh -c id\nrestart ../etc\napps\n' bench-1
expect err "^unknown command 'sh': the commands are help, apps, restart, logs, dir, trace, health, reboot and keys"
expect err "^'../etc' is not an app name"
expect out "^summary: [0-9]+ processes$"

# Hostile lines: too long for the device, too long for Studio, control
# bytes, not UTF-8 (kos-tool does not send it), a NUL; then the device
# still answers, and admin is still the one that started.
long=$(head -c 300 /dev/zero | tr '\0' a)
huge=$(head -c 2000 /dev/zero | tr '\0' b)
admin_pid_line=$(grep -c "admin: info: registered with the server" "$CON")
sh_run 1 "logs $long\\n$huge\\napps\\033[2J\\nrestart ticker\\033]0;x\\007\\napps \\377\\376\\nap\\000ps\\napps \\342\\200\\256\\n" bench-1
expect err "^the line is 305 bytes long; a command line has at most 256$"
expect err "^kos-tool toolbox.remote_shell: \"line\" is 2000 bytes long; at most 1024$"
expect err "^the line holds a control character \(\\\\x1b\) at byte 5$"
expect err "^the line holds a control character \(\\\\x1b\) at byte 15$"
expect err "^kos-tool toolbox.remote_shell: line 5 is not UTF-8 text without NUL bytes: not sent$"
expect err "^kos-tool toolbox.remote_shell: line 6 is not UTF-8 text without NUL bytes: not sent$"
expect err "^the line holds a control character \(\\\\u202e\) at byte 6$"
if grep -q $'\x1b' "$WORK/out" "$WORK/err"; then fail "an escape character reached the terminal"; fi
sh_run 0 'apps\n' bench-1
expect out "^  admin +app +running, ready +restarts 0"
[ "$(grep -c "admin: info: registered with the server" "$CON")" -eq "$admin_pid_line" ] ||
  die "admin registered again: it restarted"

# Unknown device.
sh_run 1 'apps\n' nosuch
expect err "^kos-tool toolbox.remote_shell: Studio knows no device 'nosuch'"

# reboot: answered, the system boots again and links again.
sh_run 0 'reboot\n' bench-1
expect out "^rebooting"
until_ok 60 "the device booting again" \
  in_console "core: booting system 'studio_device' again \(soft reboot 1, the same image\)"
until_ok 60 "admin registering again" sh -c "[ \$(grep -c 'admin: info: registered with the server' '$CON') -gt $admin_pid_line ]"
until_ok 60 "the device online again" device_is state online
sh_run 0 'apps\n' bench-1
stop_device

# ---- the shell disabled (the layer's default): every line refused, said
# once on the device's console within its budget, nothing carried out.
unset ADMIN_CONFIG
build_system "$WORK/noshell.zip" studio_device "$TICKER"
boot_device "$WORK/noshell.zip"
wait_online ticker
sh_run 1 'apps\nrestart ticker\n' bench-1
expect err "^the remote shell is disabled on this device \(admin's remote_shell setting is disabled"
[ "$(grep -c . "$WORK/err")" -eq 1 ] || fail "kos-tool went on after the shell said it is disabled: $(cat "$WORK/err")"
for line in apps reboot 'restart ticker' 'logs' 'keys'; do
  curl -sf -X POST -H "Authorization: Bearer $SECRET" -H "Content-Type: application/json" \
    -d "{\"line\": \"$line\"}" "${URL}api/devices/$ID/shell" >"$WORK/answer.json" || die "POST shell"
  python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if a["status"] == 3 and "disabled" in a["lines"][0] else 1)' "$WORK/answer.json" ||
    die "a disabled shell answered: $(cat "$WORK/answer.json")"
done
until_ok 10 "admin saying it refused" in_console "admin: warn: refused shell input from the server: the remote shell is disabled"
[ "$(count "refused shell input from the server")" -eq 1 ] || die "the refusals were logged $(count "refused shell input from the server") times"
[ "$(count "stopped for the restart")" -eq 0 ] || die "a disabled shell restarted an app"
kill -0 "$DEV_PID" || die "the device's system ended"

# ---- offline, and no Studio
stop_device
until_ok 30 "the device shown offline" device_is state offline
sh_run 1 'apps\n' bench-1
expect err "^kos-tool toolbox.remote_shell: device 'bench-1' \([0-9a-f]{16}\) is offline, not online"
run 0 server.stop
sh_run 1 'apps\n' bench-1
expect err "^kos-tool toolbox.remote_shell: Studio is not running"
echo PASS
