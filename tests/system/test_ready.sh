# "System ready" counts an app that ended normally as ready, even when it
# was the last one the system waited for.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/ready_after_exit.zip"
wait_for "core: app 'oneshot' exited with status 0 \(temporary: not restarted\)$"
wait_for "core: system 'ready_after_exit' ready: 3 processes in "
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_count 1 "core: system 'ready_after_exit' ready"
expect_well_formed
echo "PASS"
