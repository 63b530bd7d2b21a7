# On a host that refuses one kind of namespace, Core's single combined probe
# fails and the per-kind probes name exactly what is missing: strict
# isolation refuses to boot, best-effort boots without it and says so.
source "$(dirname "$0")/../system/lib.sh"

# kos-tool, as seen through a host that forbids network namespaces.
printf '#!/bin/sh\nexec "%s" net "%s" "$@"\n' "$KOS_DENY_NS" "$KOS_TOOL" >"$WORK/kos-tool"
chmod +x "$WORK/kos-tool"
KOS_TOOL=$WORK/kos-tool

run_image "$KOS_SYSTEM_IMAGES/inspect.zip"
[ "$RC" -eq 4 ] || fail "exit status $RC without network namespaces, expected 4"
expect "core: sandbox: the host forbids: no net namespace \(Operation not permitted\)$"
expect "core: refusing to boot: strict isolation needs every layer"
expect_not "booting system"
expect_not "inspector: "

run_image "$KOS_SYSTEM_IMAGES/inspect.zip" --isolation best-effort
[ "$RC" -eq 0 ] || fail "exit status $RC with --isolation best-effort, expected 0"
expect "core: sandbox: namespaces mnt,pid,ipc,uts,user; seccomp; landlock ABI [0-9]+; "
expect "core: WARNING: sandbox: best-effort isolation: missing: no net namespace \(Operation not permitted\)$"
expect "inspector: info: inspect done$"
expect_well_formed
echo "PASS"
