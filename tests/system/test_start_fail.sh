# Failed starts while processes start at once: an app whose sandbox refuses
# it is reported with the step and errno and the others start beside it; a
# message server that cannot start stops the boot before any app runs.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/appfail.zip"
wait_for "core: cannot start app 'cramped': sandbox: descriptors: Too many open files$"
# The summary (SIGUSR1) shows steady running and ready beside it, once it is.
for _ in $(seq 150); do
  kill -USR1 "$PID"
  sleep 0.2
  grep -qE "core:   steady +app +running, ready " "$OUT" && break
done
expect "core:   steady +app +running, ready "
expect "core:   cramped +app +failed "
# The system is ready without the app that failed, and says so.
expect "core: system 'appfail' ready without 1 failed app \('cramped'\): 2 of 3 processes in "
stop_image TERM
[ "$RC" -eq 1 ] || fail "exit status $RC, expected 1 (an app failed)"
expect_count 1 "core: cannot start app 'cramped'"
expect_not "core: app 'cramped' (exited|killed)"
expect_not "cramped: "
expect "steady: info: stopping on request$"
expect_well_formed

run_image "$KOS_IMAGES/srvfail.zip"
[ "$RC" -eq 1 ] || fail "exit status $RC, expected 1 (a message server could not start)"
expect "core: cannot start message server 'msg0': its root cannot be built: not a 64-bit ELF file$"
expect "core: shutting down: a message server could not start$"
expect "core:   waiter +app +not started "
expect_not "waiter: "
expect_not "core: system 'srvfail' ready"
# It says what it was waiting for when it gave up.
expect "core: system 'srvfail' was never ready: it was waiting for "
expect_well_formed

# A message server that fails only in its sandbox (its binary is an ELF file
# for another machine, so exec says ENOEXEC) while the app's sandbox is being
# built beside it: the app is stopped before it runs and is not started.
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000\001\000\000\000\000\000\100\000\000\000\000\000\100\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\100\000\070\000\000\000\000\000\000\000\000\000' \
  >"$WORK/wrong_machine"
cat >"$WORK/system.yaml" <<'YAML'
system: wrongmachine
base: minimal
message_servers:
  msg0:
    binary: wrong_machine
apps:
  waiter:
    binary: t_app
    args: [sleep]
YAML
"$KOS_TOOL" manifest.build "$WORK/system.yaml" -o "$WORK/wm.zip" --key "$KOS_KEY" \
  --bin t_app="$KOS_T_APP" --bin wrong_machine="$WORK/wrong_machine" >/dev/null ||
  fail "cannot build the wrong-machine image"
# The same without a sandbox, where the app's start is held just before exec.
for mode in strict none; do
  run_image "$WORK/wm.zip" --isolation "$mode"
  [ "$RC" -eq 1 ] || fail "$mode: exit status $RC, expected 1 (a message server could not start)"
  expect "core: cannot start message server 'msg0': i/o error: Exec format error$"
  expect "core: shutting down: a message server could not start$"
  expect "core:   waiter +app +not started "
  expect_not "waiter: "
  expect "core: system stopped \(exit status 1\)$"
  expect_well_formed
done
echo "PASS"
