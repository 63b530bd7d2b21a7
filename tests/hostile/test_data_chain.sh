# Issue 8, item 6: an app makes an 80-deep and a 3000-deep folder chain and
# folders of mode 0 in /data. Every later boot with the same state
# directory starts it again, with its data, also when its files must be
# given to other host uids (another uid range); and an unprivileged Core
# removes such a tree with its fresh state directory at exit.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/data_lib.sh"

STATE=$WORK/state
boot() {
  start_image "$KOS_IMAGES/data_chain.zip" --state-dir "$STATE"
  wait_for "chainer: info: chains done$"
  stop_image TERM
  [ "$RC" -eq 0 ] || fail "boot $1: exit status $RC, expected 0"
  expect_not "cannot make the data directory"
}

boot 1
expect "chainer: info: chain80: made 80 levels$"
expect "chainer: info: chain3000: made 3000 levels$"
expect "chainer: info: locked: made 100 levels$"

# The same state directory, its uid range kept.
boot 2
expect "chainer: info: chain80: found 80 levels, wrote at the bottom: ok$"
expect "chainer: info: chain3000: found 3000 levels, wrote at the bottom: ok$"

# The same state directory while its uid range is taken: Core gives the
# tree to the uids of another range.
range=$(sed -n 's/^range //p' "$STATE/uids" 2>/dev/null || true)
[ -n "$range" ] || fail "the state directory records no uid range"
exec 9>"/run/kos/uids/$range.lock"
flock -n 9 || fail "the recorded range $range is still locked after Core ended"
boot 3
exec 9>&-
expect "chainer: info: chain80: found 80 levels, wrote at the bottom: ok$"
expect "chainer: info: chain3000: found 3000 levels, wrote at the bottom: ok$"
new=$(sed -n 's/^range //p' "$STATE/uids")
[ "$new" != "$range" ] || fail "Core took range $range although it was held"
expect "core: storage: /data of 'chainer' given to host uid [0-9]+ \(it belonged to uid [0-9]+\)"

# Unprivileged: a fresh state directory holding such a tree is removed
# whole at exit.
start_image_as nobody "$KOS_IMAGES/data_chain.zip"
wait_for "chainer: info: chains done$"
expect "chainer: info: chain3000: made 3000 levels$"
FRESH=$(state_dir)
stop_image TERM
[ "$RC" -eq 0 ] || fail "unprivileged: exit status $RC, expected 0"
expect "core: WARNING: storage: /data of 'chainer' is a plain directory: storage: \(16 MiB\) is not enforced"
[ -n "$FRESH" ] && [ ! -e "$FRESH" ] || fail "unprivileged: the state directory $FRESH was left behind"
echo "PASS"
