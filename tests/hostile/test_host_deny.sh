# A host that forbids sandbox layers (as a container runtime's seccomp
# profile does): strict isolation refuses to boot and names what the host
# refused; best effort, from the manifest or the command line, boots with
# what is left, says what is missing, and still confines the app.
source "$(dirname "$0")/../system/lib.sh"

# run_image_with WRAPPER ARGS... : like run_image, under a wrapper command.
run_image_with() {
  set +e
  timeout 60 "$@" >"$OUT" 2>&1
  RC=$?
  set -e
  [ "$RC" -ne 124 ] || fail "kos-tool run did not finish within 60 s"
}
# deny LAYERS KOS-TOOL-ARGS...: kos-tool on a host that forbids LAYERS.
deny() { local what=$1; shift; run_image_with "$KOS_HOST_DENY" "$what" -- "$KOS_TOOL" "$@"; }

# Strict (the default): no user namespace, no boot, exit status 4.
deny userns run --trust "$KOS_TRUST" "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 4 ] || fail "exit status $RC without user namespaces, expected 4"
expect "core: sandbox: the host forbids: no user namespace \(Operation not permitted\)$"
expect "core: refusing to boot: strict isolation needs every layer"
expect_not "core: booting system"

deny seccomp run --trust "$KOS_TRUST" "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 4 ] || fail "exit status $RC without seccomp, expected 4"
expect "core: sandbox: the host forbids: no seccomp filters \(Operation not permitted\)$"
expect_not "core: booting system"

# The manifest accepts best effort: boots without the user namespace; the
# app still gets a uid of its own (never Core's root), no socket, no host
# files, its own PID namespace.
deny userns run --trust "$KOS_TRUST" "$KOS_IMAGES/best_effort.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC for best_effort without user namespaces, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts,net; seccomp; landlock ABI [0-9]+; "
expect "core: WARNING: sandbox: best-effort isolation: missing: no user namespace \(Operation not permitted\)$"
expect "core: WARNING: sandbox: no user namespace: each process runs as host uid [0-9]+ \+ its index \(range [0-9]+, held in /run/kos/uids/[0-9]+\.lock\), with no capabilities$"
expect "inspector: info: confined: pid 2 uid [1-9][0-9]* socket Operation not permitted open /etc/passwd No such file or directory$"
expect_not "inspector: info: confined: .* uid 0 "

# The command line accepts best effort for a strict manifest; two layers gone.
deny userns,netns run --trust "$KOS_TRUST" --isolation best-effort "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC with --isolation best-effort, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts; seccomp; "
expect "core: WARNING: sandbox: best-effort isolation: missing: no user namespace \(Operation not permitted\); no net namespace \(Operation not permitted\)$"

# A host that refuses a seccomp listener (the kernel answers EBUSY where a
# container runtime holds one already): strict names what the exec gate
# needs; best effort boots without the gate and says what that leaves open.
deny notify run --trust "$KOS_TRUST" "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 4 ] || fail "exit status $RC without seccomp user notification, expected 4"
expect "core: sandbox: the host forbids: no seccomp user notification for the exec gate \(Device or resource busy\)$"
expect_not "core: booting system"

deny notify run --trust "$KOS_TRUST" "$KOS_IMAGES/best_effort.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC for best_effort without seccomp user notification, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts,net,user; seccomp without exec gate; landlock ABI [0-9]+; "
expect "core: WARNING: sandbox: best-effort isolation: missing: no seccomp user notification for the exec gate \(Device or resource busy\)$"
expect "core: WARNING: sandbox: no exec gate: an app can execute again after it started"
expect "inspector: info: confined: pid 2 uid 1000 "

# Without seccomp, best effort says so and boots.
deny seccomp run --trust "$KOS_TRUST" "$KOS_IMAGES/best_effort.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC for best_effort without seccomp, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts,net,user; no seccomp; "
expect "core: WARNING: sandbox: best-effort isolation: missing: no seccomp filters"
expect "inspector: info: confined: pid 2 uid 1000 "
expect_well_formed
echo "PASS"
