# "System ready" counts an app that ended normally as ready, even when it
# was the last one the system waited for; a boot that is not ready after a
# while says what it waits for, and so does a shutdown.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/ready_after_exit.zip"
wait_for "core: app 'oneshot' exited with status 0 \(temporary: not restarted\)$"
wait_for "core: system 'ready_after_exit' ready: 3 processes in "
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_count 1 "core: system 'ready_after_exit' ready"
expect_well_formed

start_image "$KOS_IMAGES/never_ready.zip" --grace 4000
wait_for "core: not ready after 5 s: waiting for app 'lazy' \(running, not ready\)$"
stop_image INT
expect "core: system 'never_ready' was never ready: it was waiting for app 'lazy' \(running, not ready\)$"
expect "core: stopping: waiting for message server 'msg0' \(to be asked once the apps that use it have stopped\), app 'stubborn' \(stopping\); each has 4000 ms from when it was asked; press Ctrl-C again to kill everything now$"
expect "core: app 'lazy' stopped$"
expect "core: app 'steady' stopped$"
expect "core: app 'stubborn' killed \(SIGKILL\)$"
expect_not "core: system 'never_ready' ready"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_well_formed
echo "PASS"
