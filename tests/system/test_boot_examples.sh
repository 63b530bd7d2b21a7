# Boots the examples and checks their consoles.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_EXAMPLES/hello/hello_system.zip"
[ "$RC" -eq 0 ] || fail "hello: exit status $RC, expected 0"
expect '^\S+ core: image .* verified: signed by release key [0-9a-f]{16}$'
expect "^\S+ hello: info: Hello from KOS \(I am 'hello'\)$"
expect "^\S+ core: system 'hello' ready: 2 processes in [0-9.]+ ms$"
expect "^\S+ core: shutting down: an app that ends the system has ended$"
expect_well_formed

run_image "$KOS_EXAMPLES/ping_pong/ping_pong.zip"
[ "$RC" -eq 0 ] || fail "ping_pong: exit status $RC, expected 0"
expect "^\S+ core: system 'ping_pong' ready: 4 processes in [0-9.]+ ms$"
expect "^\S+ pong: info: 'ping' gave me a token for scoreboard_protocol$"
for r in 1 2 3 4 5; do
  expect "^\S+ pong: info: ping $r from 'ping'$"
  expect "^\S+ ping: info: round $r: pong answered 'pong $r'$"
done
# pong reached the scoreboard only through the token ping passed it.
expect "^\S+ scoreboard: info: 'pong' scored 1; total 5$"
expect "^\S+ ping: info: done: 5 rounds, scoreboard total 5$"
expect "^\S+ core: system stopped \(exit status 0\)$"
expect_well_formed

# Stopping is clean, every time: Core asks through the control channel and
# every process stops when asked (a signal would be a fallback after half
# the grace period, and would say so). The summary says stopped or ended.
for run in 1 2 3 4 5; do
  run_image "$KOS_EXAMPLES/ping_pong/ping_pong.zip"
  [ "$RC" -eq 0 ] || fail "ping_pong run $run: exit status $RC, expected 0"
  for p in pong scoreboard; do
    expect "^\S+ core: app '$p' stopped$"
    expect "^\S+ core:   $p +app +stopped +restarts 0, last exit: exited with status 0$"
  done
  expect "^\S+ core: message server 'msg0' stopped$"
  expect "^\S+ core:   ping +app +ended +restarts 0, last exit: exited with status 0$"
  expect_not "killed|SIGTERM|not ready"
done
echo "PASS"
