# qemu-arm-virt booted (docs/boards.md): examples/hello for aarch64, made
# into a disk by kos-tool bootstrap, boots with kos-tool run --platform
# qemu-arm-virt: U-Boot's banner, U-Boot running boot.scr from the FAT
# partition, the kernel, then KOS's own lines in the `<timestamp> <name>:
# <text>` form: kos-init (PID 1) loading the modules, configuring the
# network (QEMU's user-mode one, restricted) and mounting the data
# partition, Core verifying generation 1 of the store, bounding each app by
# a cgroup of its own (Core owns the hierarchy as PID 1), the system ready, its
# self test passed (generation 1 good), the app's line, the system's end
# and the power-off, after which QEMU exits with status 0. SIGTERM to
# kos-tool stops QEMU (tried while U-Boot runs, before a second boot
# starts); SIGKILL to kos-tool takes QEMU with it. One boot: TCG on
# a shared machine is slow, so the timeout is generous and nothing is timed.
source "$(dirname "$0")/lib.sh"
boot_virt "$KOS_DEVICE_IMAGE"
[ "$RC" -eq 0 ] || fail "kos-tool run --platform qemu-arm-virt: status $RC, not 0"

# In this order, each once at least.
in_order "^U-Boot 20[0-9]{2}\.[0-9]{2}" \
  "^Found U-Boot script /boot.scr" \
  "^KOS: loading the kernel and the initramfs from virtio 0:1" \
  "^Starting kernel" \
  "$TS kos-init: KOS on qemu-arm-virt: mounted /proc, /sys, /dev, /run$" \
  "$TS kos-init: loaded 12 kernel modules$" \
  "$TS kos-init: network: eth0 10.0.2.15/24, gateway 10.0.2.2$" \
  "$TS kos-init: mounted the data partition /dev/vda2 on /data$" \
  "${HELLO_LINES[@]}"
# After the kernel starts, every line but the kernel's own is KOS's form.
k=$(line_of "^Starting kernel")
bad=$(tail -n +"$((k + 1))" "$OUT" | grep -vE "$TS [a-z0-9_-]+: |^\[ *[0-9]+\.[0-9]+\] |^$" || true)
[ -z "$bad" ] || fail "console lines after the kernel started not in the <timestamp> <name>: <text> form: $bad"

# SIGTERM to kos-tool stops QEMU, and kos-tool returns.
: >"$OUT"
"$KOS_TOOL" run --platform qemu-arm-virt "$D" </dev/null >"$OUT" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q "^U-Boot 20" "$OUT" && break; sleep 0.1; done
grep -q "^U-Boot 20" "$OUT" || { kill -KILL "$PID"; fail "U-Boot did not start within 60 s"; }
QEMU=$(pgrep -P "$PID" qemu-system-aar || true)
[ -n "$QEMU" ] || fail "no QEMU under kos-tool run"
kill -TERM "$PID"
for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$PID" 2>/dev/null || { kill -KILL "$QEMU" "$PID"; fail "kos-tool run did not end within 30 s of SIGTERM"; }
wait "$PID" && RC=0 || RC=$?
[ "$RC" -eq 0 ] || fail "kos-tool run stopped by SIGTERM: status $RC, not 0"
! kill -0 "$QEMU" 2>/dev/null || fail "QEMU ($QEMU) still runs after kos-tool run ended"
grep -q "terminating on signal 15" "$OUT" || fail "QEMU was not stopped by the SIGTERM"

# kos-tool killed outright: QEMU goes with it, never left running alone. And
# a console that is gone (its reader ended) kills neither.
: >"$OUT"
"$KOS_TOOL" run --platform qemu-arm-virt "$D" </dev/null 2>"$OUT" | head -c 1 >/dev/null &
for _ in $(seq 600); do PID=$(pgrep -f "kos-tool run --platform qemu-arm-virt $D" | head -n1 || true); [ -n "$PID" ] && QEMU=$(pgrep -P "$PID" qemu-system-aar || true) && [ -n "$QEMU" ] && break; sleep 0.1; done
[ -n "$QEMU" ] || fail "no QEMU under the second kos-tool run"
sleep 2 # its console's reader has gone by now
kill -0 "$PID" 2>/dev/null || fail "kos-tool run ended when its console's reader did"
kill -KILL "$PID"
for _ in $(seq 300); do kill -0 "$QEMU" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$QEMU" 2>/dev/null || { kill -KILL "$QEMU"; fail "QEMU ($QEMU) outlived kos-tool run killed with SIGKILL"; }
echo "PASS"
