# Issue 8, item 7 (storage:): an app that fills its /data gets ENOSPC at
# about its storage: bound (4 MiB); the image on the host is no larger; a
# neighbour writes its own /data and a well-behaved pair keeps calling.
# Then, with one state directory: a larger storage: grows the image, a
# smaller one keeps it (with a warning), and an image the kernel cannot
# mount keeps only its app from starting and is left as it was.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/data_lib.sh"

BOUND=4194304
start_image "$KOS_IMAGES/data_fill.zip"
wait_for "filler: info: fill: wrote [0-9]+ bytes"
wait_for "neighbour: info: fill: wrote [0-9]+ bytes"
STATE=$(state_dir)
img=$STATE/data/filler.img
size=$(stat -c %s "$img" 2>/dev/null || echo none)
used=$(( $(stat -c %b "$img" 2>/dev/null || echo 0) * $(stat -c %B "$img" 2>/dev/null || echo 0) ))
sleep 0.5
stop_image TERM

expect "filler: info: fill: wrote [0-9]+ bytes, then No space left on device$"
wrote=$(sed -n 's/.*filler: info: fill: wrote \([0-9]*\) bytes.*/\1/p' "$OUT")
[ "$wrote" -le "$BOUND" ] && [ "$wrote" -ge $((BOUND / 2)) ] ||
  fail "the filler wrote $wrote bytes with a bound of $BOUND"
[ "$size" = "$BOUND" ] || fail "the image $img is $size bytes, expected $BOUND"
# Allocated: at most the bound, and the host file system's own extent
# blocks for the file.
[ "$used" -le $((BOUND + 65536)) ] || fail "the image $img takes $used bytes on the host"
expect "core: storage: /data of 'filler' is its own file system of 4 MiB \(data/filler.img(, made now)?\)"
expect "neighbour: info: fill: wrote 1048576 bytes, no error$"
expect "pinger: info: pinger done: [0-9]+ calls, 0 failures"
expect_not "core: app '(pong|pinger|neighbour|filler)' .*restarting"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
[ ! -e "$STATE" ] || fail "the fresh state directory $STATE is still there"
expect_well_formed

# sized SIZE: an image whose app 'sized' (storage: SIZE) writes 1 MiB, beside
# 'other', which writes 1 KiB to its own /data.
sized() {
  printf '%s\n' "system: sized" "base: minimal" "apps:" "  sized:" "    binary: data_attack" \
    "    args: [fill, \"1048576\"]" "    data_dir: true" "    storage: $1" "  other:" \
    "    binary: data_attack" "    args: [fill, \"1024\"]" "    data_dir: true" >"$WORK/sized.yaml"
  "$KOS_TOOL" manifest.build "$WORK/sized.yaml" -o "$WORK/sized_$1.zip" --key "$KOS_KEY" \
    --bin "data_attack=$KOS_DATA_ATTACK" >"$WORK/build.txt" 2>&1 ||
    fail "cannot build the sized system: $(cat "$WORK/build.txt")"
}
SIZED=$WORK/sized_state
boot_sized() {
  start_image "$WORK/sized_$1.zip" --state-dir "$SIZED"
  wait_for "other: info: fill: wrote 1024 bytes, no error$"
}
blocks() { # the file system's size in bytes
  dumpe2fs -h "$SIZED/data/sized.img" 2>/dev/null |
    awk -F: '/^Block count/ { n = $2 } /^Block size/ { b = $2 } END { print n * b }'
}
sized 4MiB
sized 8MiB
boot_sized 4MiB
wait_for "sized: info: fill: wrote 1048576 bytes, no error$"
stop_image TERM
expect "core: storage: /data of 'sized' is its own file system of 4 MiB \(data/sized.img, made now\)$"
[ "$(blocks)" -eq 4194304 ] || fail "the 4 MiB file system has $(blocks) bytes"

boot_sized 8MiB
wait_for "sized: info: fill: wrote 1048576 bytes, no error$"
stop_image TERM
expect "core: storage: /data of 'sized' is its own file system of 8 MiB \(data/sized.img, grown from 4 MiB\)$"
[ "$(blocks)" -eq 8388608 ] || fail "the file system grown to 8 MiB has $(blocks) bytes"
[ "$(stat -c %s "$SIZED/data/sized.img")" -eq 8388608 ] || fail "the grown image is not 8 MiB"

boot_sized 4MiB
wait_for "sized: info: fill: wrote 1048576 bytes, no error$"
stop_image TERM
expect "core: WARNING: storage: /data of 'sized' stays 8 MiB: storage: says 4 MiB, and Core never shrinks"
[ "$(stat -c %s "$SIZED/data/sized.img")" -eq 8388608 ] || fail "Core shrank the image"

# Damaged beyond what the journal repairs: the superblock overwritten.
dd if=/dev/urandom of="$SIZED/data/sized.img" bs=1024 seek=1 count=1 conv=notrunc status=none
before=$(sha256sum <"$SIZED/data/sized.img")
boot_sized 4MiB
stop_image TERM
expect "core: storage: /data of 'sized': its data, data/sized.img in the state directory: the kernel does not mount it: .*; Core will not start it$"
expect "core: cannot start app 'sized': its data, data/sized.img"
expect_not "sized: info: fill"
[ "$(sha256sum <"$SIZED/data/sized.img")" = "$before" ] || fail "Core changed the damaged image"
[ "$RC" -eq 1 ] || fail "exit status $RC with an app that could not start, expected 1"
echo "PASS"
