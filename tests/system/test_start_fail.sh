# Failed starts while every process starts at once: an app whose sandbox
# refuses it is reported with the step and errno and the others start beside
# it; a message server that cannot start stops the boot before any app.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/appfail.zip"
wait_for "core: cannot start app 'cramped': sandbox: descriptors: Too many open files$"
# The summary (SIGUSR1) shows steady running and ready beside it, once it is.
for _ in $(seq 150); do
  kill -USR1 "$PID"
  sleep 0.2
  grep -qE "core:   steady +app +running +ready " "$OUT" && break
done
expect "core:   steady +app +running +ready "
expect "core:   cramped +app +failed "
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
expect_well_formed
echo "PASS"
