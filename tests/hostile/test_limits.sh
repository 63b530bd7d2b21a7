# Apps that try to hold more of the host than their manifest entries grant
# (tests/hostile/hog.c): every attempt must be refused or bounded.
source "$(dirname "$0")/../system/lib.sh"

start_image "$KOS_IMAGES/limits.zip"
wait_for "core: system 'limits' ready"
for app in single forker kernel counters moder; do
  wait_for "$app: info: attacks done: [0-9]+ contained, [0-9]+ escaped$"
done
kill -0 "$PID" || fail "Core died"
stop_image TERM

echo "--- what the apps tried:"
grep -E ": info: attack " "$OUT" | sed 's/^[^ ]* //' || true

expect_not "ESCAPED"
for app in single forker kernel counters moder; do
  expect "$app: info: attacks done: [0-9]+ contained, 0 escaped$"
done
# One process: no fork, vfork, clone or thread (a sanitizer build may fork,
# and says so).
if ! grep -qE "single: info: attack one_process: contained: skipped" "$OUT"; then
  for a in fork vfork clone; do
    expect "single: info: attack $a: contained: .*Operation not permitted$"
  done
  expect "single: info: attack thread: contained: pthread_create\(\): (Operation not permitted|Resource temporarily unavailable)$"
fi
# processes: 4 is the app and at most 3 children (4 in a sanitizer build,
# whose LeakSanitizer tracer counts one more); the app checks the count.
expect "forker: info: attack processes: contained: [0-9] children"
# Pipes may not grow past 64 KiB; a memfd not past RLIMIT_FSIZE.
expect "kernel: info: attack pipe_grow: contained: [0-9]+ pipes; 0 grown to 1 MiB \(Operation not permitted\)$"
expect "kernel: info: attack pipe_shrink_and_back: contained: F_SETPIPE_SZ 4096, then 65536: allowed$"
expect "kernel: info: attack memfd_big: contained: ftruncate\(512 MiB\): File too large"
# What an app can still hold in pipes and unmapped memfds on sim is bounded
# by its files limit (docs/sandbox.md states the bounds; the app checks them).
expect "kernel: info: attack pipe_memory: contained: [0-9]+ pipes hold"
expect "kernel: info: attack memfd_memory: contained: [0-9]+ memfds hold"
# Host-wide counters.
for a in sysinfo statfs fstatfs sched_setaffinity; do
  expect "counters: info: attack $a: contained: .*Operation not permitted$"
done
# Modes in /data.
for a in create_setuid create_world_writable creat_setgid tmpfile_setuid mkdir_world_writable \
         mkdirat_setgid fchmod_setuid fchmod_setuid_high_bits fchmod_world_writable chmod_setgid \
         fchmodat_setuid symlink hard_link mknod_fifo; do
  expect "moder: info: attack $a: contained: (Operation not permitted|Permission denied)$"
done
for a in create_0644 mkdir_0755 fchmod_0600 chmod_0640 fchmodat_0644; do
  expect "moder: info: attack $a: contained: allowed$"
done
expect "moder: info: attack mode_kept: contained: /data/plain has mode 644$"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_well_formed
echo "PASS"
