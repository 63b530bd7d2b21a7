# The boot log says which sandbox layers are in force; --isolation none is
# loudly warned; a bad --isolation value is a usage error.
source "$(dirname "$0")/../system/lib.sh"

run_image "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts,net,user; seccomp; landlock ABI [0-9]+; limits: rlimits \(no delegated cgroup\)$"
expect "core: sandbox: each process runs as uid 1000 in its own user namespace"

run_image "$KOS_SYSTEM_IMAGES/inspect.zip" --isolation none
[ "$RC" -eq 0 ] || fail "exit status $RC with --isolation none, expected 0"
expect "core: WARNING: sandbox: NONE \(--isolation none\)"
expect_not "core: sandbox: namespaces"

run_image "$KOS_SYSTEM_IMAGES/inspect.zip" --isolation bogus
[ "$RC" -eq 2 ] || fail "exit status $RC for a bad --isolation, expected 2"

# A state directory given on the command line is used and kept.
run_image "$KOS_SYSTEM_IMAGES/inspect.zip" --state-dir "$WORK/state"
[ "$RC" -eq 0 ] || fail "exit status $RC with --state-dir, expected 0"
expect "core: state directory: $WORK/state$"
[ -d "$WORK/state/data" ] || fail "state directory $WORK/state/data was not made"
echo "PASS"
