# cgroup v2 limits enforced on a device (docs/sandbox.md, "Limits"):
# tests/device/cgroup.yaml built for aarch64, bootstrapped for
# qemu-arm-virt and booted once, where Core is PID 1 and gives each app a
# cgroup of its own. 'shm' (hog shared_memory 32, memory: 8MiB) touches 32
# MiB of shared memory, which no rlimit stops: the kernel's memory-cgroup
# OOM killer ends it, and Core says its cgroup reached memory.max; it never
# says it touched them all. 'forker' (hog processes 3 1, limits:
# {processes: 3}) starts 2 children, its third fork fails with EAGAIN, and
# it lives on until the system stops, as does the message server. 'watch'
# ends the system once it has read both on the console; Core stops the
# rest, says shm failed (exit status 1) and kos-init powers off. One boot;
# nothing is timed.
source "$(dirname "$0")/lib.sh"
[ -f "$KOS_DEVICE_CGROUP_IMAGE" ] || fail "the aarch64 cgroup image $KOS_DEVICE_CGROUP_IMAGE was not built"
boot_virt "$KOS_DEVICE_CGROUP_IMAGE"
# 1: an app failed (shm), as on sim; the boot ran to its end.
[ "$RC" -eq 1 ] || fail "kos-tool run --platform qemu-arm-virt: status $RC, not 1 (shm failed)"

# Core owns the hierarchy: a cgroup per app.
expect "$TS core: sandbox: .*; limits: a cgroup per app in /sys/fs/cgroup \(memory.max, pids.max\) and rlimits$"
# shm: killed by the OOM killer of its own memory cgroup (the kernel's
# line: "Memory cgroup out of memory", not the machine's "Out of memory"),
# and Core's note, from app.shm's memory.events; never a line after it.
oom=$(line_of "^(\[ *[0-9]+\.[0-9]+\] )?Memory cgroup out of memory: Killed process [0-9]+ ")
! grep -qE "^(\[ *[0-9]+\.[0-9]+\] )?Out of memory: " "$OUT" || fail "the machine itself ran out of memory"
touching=$(line_of "$TS shm: info: touching 32 MiB of shared memory$")
killed=$(line_of "$TS core: app 'shm' .*killed by signal 9 \(Killed\) \(out of memory: its cgroup reached memory.max\)")
[ "$touching" -lt "$oom" ] && [ "$oom" -lt "$killed" ] ||
  fail "shm's line (line $touching), the kernel's OOM kill (line $oom) and Core's note (line $killed) are out of order"
! grep -qE "attack shared_memory: ESCAPED" "$OUT" || fail "shm touched 32 MiB under memory: 8MiB"
# forker: 2 children, then EAGAIN; it survived to report.
forked=$(line_of "$TS forker: info: attack processes: contained: 2 children \(2 touched 1 MiB each\), then Resource temporarily unavailable$")
expect "$TS forker: info: attacks done: 1 contained, 0 escaped$"
# The watcher saw both and ended the system, after shm's death: the rest
# of the system ran on. Then forker and the message server are stopped as
# a shutdown stops them, not before: neither ended on its own.
watched=$(line_of "$TS watch: info: console: core said: app 'shm' .*out of memory")
line_of "$TS watch: info: console: forker said: info: attack processes: contained" >/dev/null
ending=$(line_of "$TS watch: info: manager: ending$")
[ "$killed" -lt "$watched" ] && [ "$forked" -lt "$ending" ] ||
  fail "the watcher ended the system before both limits were seen"
head -n "$ending" "$OUT" | grep -E "$TS core: (app|message server) '(forker|msg0)' " >&2 &&
  fail "forker or msg0 ended before the watcher ended the system (above)"
expect "$TS core: shutting down: an app that ends the system has ended$"
expect "$TS core:   forker +app +stopped +restarts 0, last exit: exited with status 0$"
expect "$TS core:   msg0 +message server stopped +restarts 0, last exit: exited with status 0$"
expect "$TS core:   shm +app +ended +restarts 0, last exit: killed by signal 9 \(Killed\)$"
expect "$TS core: system stopped \(exit status 1\)$"
expect "$TS kos-init: the system has ended; powering off$"
grep -E "$TS core: (app 'shm'|system stopped)|Memory cgroup out of memory" "$OUT" | sed 's/^/cgroup: /'
echo "PASS"
