# admin's remote shell against a hostile server (docs/packages/admin.md,
# "The remote shell"): a Poukai system on sim, linked to link_server.py in
# its shell mode, which sends raw ShellDown messages on the shell channel:
# a good line, bytes that are not UTF-8, a control character, a line too
# long, a message that is no ShellDown, a restart, a message longer than the
# tunnel hands an app at once, a burst of 40, and dir. With the shell
# enabled each is answered (refusals with their status and why), in order,
# nothing is lost and admin carries on; with it disabled every one is
# answered "disabled", nothing is carried out, and the device says so once.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"
source "$(dirname "$0")/link_lib.sh"

# boot SHELL: the system with remote_shell SHELL linked to a fresh server.
boot() { boot_linked shell shell "$1"; }
# answer ID STATUS [REGEX]: the server got the answer to line ID, done,
# with STATUS, its lines matching REGEX.
answer() {
  srv_wait 1 "^shell $1 $2 done ${3:-}"
}

: >"$WORK/server.out"
boot enabled
answer 1 0 "summary: [0-9]+ processes \|"
answer 2 1 "the line is not valid UTF-8 \(byte 6 is \\\\xff\)$"
answer 3 1 "the line holds a control character \(\\\\x1b\) at byte 5$"
answer 4 1 "the line is 305 bytes long; a command line has at most 256$"
answer 0 11 "refused: not a ShellDown message \(3 bytes\)$"
answer 5 0 "app 'rng_server' restarted$"
answer 7 0 "[0-9]+ protocols, as the manifest grants them"
# The burst: all 40 answered, in order, between the restart's and dir's.
ids=$(sed -nE 's/^shell ([0-9]+) [0-9]+ done.*/\1/p' "$WORK/server.out" | tr '\n' ' ')
want=""
for i in $(seq 100 139); do want+="$i "; done
case "$ids" in
"1 2 3 4 0 5 "*"$want""7 ") ;;
*) fail "the answers came as: $ids" ;;
esac
wait_for "core: app 'rng_server' stopped for the restart app 'admin' asked for; starting it again$"
expect "admin: info: shell: restart app 'rng_server', asked by the server$"
expect "admin: info: shell: refused a line from the server: the line is not valid UTF-8"
# Refusals are logged within the budget (10 lines, then one per 10 s).
[ "$(grep -cE "admin: (info|warn): (shell: refused|refused a message on the shell)" "$OUT")" -le 10 ] ||
  fail "admin logged more refusals than its budget"
kill -0 "$(app_pid admin)" || fail "admin is gone"
expect_not "core: app 'admin' (exited|killed)"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "admin: info: shell: [0-9]+ commands carried out, [0-9]+ lines refused$"
expect_well_formed

: >"$WORK/server.out"
boot disabled
answer 7 3 "the remote shell is disabled on this device"
n=$(grep -cE "^shell [0-9]+ [0-9]+ done" "$WORK/server.out")
m=$(grep -cE "^shell [0-9]+ 3 done the remote shell is disabled on this device" "$WORK/server.out")
[ "$n" -eq "$m" ] || fail "a disabled shell answered otherwise: $(grep -vE " 3 done " "$WORK/server.out" | grep '^shell' | head -3)"
[ "$n" -ge 47 ] || fail "only $n answers from a disabled shell"
expect_count 1 "admin: warn: refused shell input from the server: the remote shell is disabled"
expect_not "stopped for the restart"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
cleanup_srv
echo PASS
