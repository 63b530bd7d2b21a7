# A hostile app attacks the sandbox, the message server and its neighbours
# while a well-behaved pair keeps calling. Every attempt must be contained,
# and the pair must never see a failed call.
source "$(dirname "$0")/../system/lib.sh"

start_image "$KOS_IMAGES/hostile.zip"
wait_for "core: system 'hostile' ready"
wait_for "attacker: info: attacks done: [0-9]+ contained, [0-9]+ escaped$"
# Let the pair run on after the flood for a while.
sleep 1
kill -0 "$PID" || fail "Core died"
stop_image TERM

echo "--- what the attacker tried:"
grep -E "attacker: info: attack " "$OUT" | sed 's/^[^ ]* //' || true
grep -E "pinger: info: pinger done" "$OUT" | sed 's/^[^ ]* //' || true

expect "attacker: info: attacks done: [0-9]+ contained, 0 escaped$"
expect_not "ESCAPED"
for a in read_passwd host_proc_environ tcp_socket unix_socket socketpair connect_abstract \
         signal_scan kill_init ptrace_init kill_sibling execve_sh execveat_loader reexec_fd \
         exec_new_memfd execve_loader execveat_max_files_abs execveat_max_files_libc \
         execveat_max_files_empty exec_thread exec_own_listener execveat_opath_dir \
         execveat_opath_file fexecve_loader fexecve_libc exec_memfd_copy exec_memfd_proc_path \
         unshare_user mount bpf keyctl mlock mmap_locked fork_bomb write_own_binary create_file \
         guess_fds shm_path undeclared_protocol forge_token_cookie forge_close_revoke \
         scribble_channel hoard_tokens flood_msg_server malformed_frames; do
  expect "attacker: info: attack $a: contained: "
done
expect "attacker: info: attack fork_bomb: contained: 1[0-9] forks, then Resource temporarily unavailable$"
expect "attacker: info: attack execve_sh: contained: execve\(/bin/sh\): Operation not permitted$"
# Nothing runs after start: the exec gate refuses every exec that passes the
# allow-list (the audit's absolute path with the allowed descriptor number
# among them), so each gets EPERM; other ABIs are killed. What an exec that
# worked would run prints on the console: the loader its argv[0]
# ("ESCAPED-exec"), libc its banner.
for a in execveat_max_files_abs execveat_max_files_libc execveat_max_files_empty exec_thread \
         exec_own_listener exec_memfd_proc_path; do
  expect "attacker: info: attack $a: contained: .*: Operation not permitted$"
done
if [ "$(uname -m)" = x86_64 ]; then
  for a in exec_x32 exec_x32_execveat; do
    expect "attacker: info: attack $a: contained: .*: killed by SIGSYS"
  done
  expect "attacker: info: attack exec_int80: contained: "
fi
expect_not "GNU C Library"
expect "attacker: info: attack hoard_tokens: contained: got 15 more 'echo' tokens, then no memory$"
expect "msg0: app 'attacker' holds 16 tokens for 'echo' and [0-9]+ in all \(at most 16 and 256\); refusing another"
# Denials are logged within a budget: the flood's thousands of denied
# requests leave at most a burst of lines, and the rest are counted.
expect_within_budget "msg0: denied: app 'attacker'" 10
# The well-behaved pair kept working throughout, and nothing died.
expect "pinger: info: pinger done: [0-9]+ calls, 0 failures"
calls=$(grep -oE "pinger done: [0-9]+ calls" "$OUT" | grep -oE "[0-9]+")
[ "$calls" -ge 100 ] || fail "the pinger made only $calls calls"
expect_not "pinger: warn: "
expect_not "message server 'msg0' (killed|exited).*cannot run without it"
expect "core: app 'pong' stopped$"
expect "core: message server 'msg0' stopped$"
expect_not "core: app '(pong|pinger|keeper)' .*restarting"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_well_formed
echo "PASS"
