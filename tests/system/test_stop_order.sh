# The order of shutdown: every app is asked to stop only once the apps that
# use it (through the manifest's grants, directly or through others) have
# ended; apps in a cycle are asked together; an app that outlives its grace
# period is killed and the apps it used are asked then; message servers go
# last.
source "$(dirname "$0")/lib.sh"

start_image "$KOS_IMAGES/stop_order.zip" --grace 1000
wait_for "core: system 'stop_order' ready"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"

# Each client's call on the way out was answered: its server still ran.
expect "front: info: last call on cache_p: ok$"
expect "cache: info: last call on store_p: ok$"
expect "front2: info: last call on store_p: ok$"

# Who ended before whom.
line() {
  { grep -nE "core: $1 '$2' (stopped|killed \(SIGKILL\))$" "$OUT" ||
      true; } | head -1 | cut -d: -f1
}
before() {
  local a b
  a=$(line app "$1"); b=$(line "${3:-app}" "$2")
  [ -n "$a" ] || fail "no line saying that '$1' exited"
  [ -n "$b" ] || fail "no line saying that '$2' exited"
  [ "$a" -lt "$b" ] || fail "'$2' ended before '$1', which uses it"
}
before front cache
before cache store
before front2 store
before stubborn store
for app in store cache front front2 stubborn ring_a ring_b; do
  before "$app" msg0 "message server"
done
# Only the stubborn app outlived its grace period: asked, then SIGTERM
# halfway through (which it ignores), then SIGKILL at the end; store, which
# waited for it, still got its own. Every other process stopped when asked.
expect "core: app 'stubborn' has not stopped 500 ms after it was asked; sending SIGTERM$"
expect "core: app 'stubborn' did not stop within the grace period \(1000 ms\); killing it$"
expect_count 1 "did not stop within the grace period"
expect_count 1 "sending SIGTERM"
expect "core: app 'stubborn' killed \(SIGKILL\)$"
for app in store cache front front2 ring_a ring_b; do
  expect "core: app '$app' stopped$"
done
expect "core: message server 'msg0' stopped$"
expect_not "killed by signal 15"
expect "core: system stopped \(exit status 0\)$"
expect_well_formed
echo "PASS"
