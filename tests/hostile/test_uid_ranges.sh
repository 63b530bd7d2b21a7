# Host uids of apps (issue 8): a privileged Core takes a range of host uids
# that no other Core holds (a lock file per range, held for its life), so
# two Cores at once never share a uid; a reused state directory keeps the
# range it recorded when that range is free, and two Cores never share a
# state directory.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/data_lib.sh"

LOCKS=/run/kos/uids
UID_BASE=1000000
UID_SPAN=1024
# base_of FILE: the host uid base a Core said its processes are mapped to.
base_of() { sed -n 's/.*mapped to host uid \([0-9]*\) + its index.*/\1/p' "$1" | tail -1; }

OUT2=$WORK/console2.txt
PID2=
trap '[ -z "$PID2" ] || kill -KILL "$PID2" 2>/dev/null; cleanup' EXIT

# Two Cores at once.
SA=$WORK/a
start_image "$KOS_IMAGES/data_suid.zip" --state-dir "$SA"
"$KOS_TOOL" run --trust "$KOS_TRUST" "$KOS_IMAGES/data_suid.zip" >"$OUT2" 2>&1 &
PID2=$!
wait_for "planter: info: suid: "
for _ in $(seq 300); do grep -q "planter: info: suid: " "$OUT2" && break; sleep 0.1; done
a=$(base_of "$OUT")
b=$(base_of "$OUT2")
[ -n "$a" ] && [ -n "$b" ] || fail "a Core did not say its uid base"
[ "$a" != "$b" ] || fail "two Cores at once both map to host uids from $a"
ra=$(((a - UID_BASE) / UID_SPAN))
expect "mapped to host uid $a \+ its index \(range $ra, held in $LOCKS/$ra.lock\)$"
( flock -n 9 ) 9>"$LOCKS/$ra.lock" && fail "range $ra is not locked while its Core runs"
[ "$(stat -c '%a %U' "$LOCKS")" = "700 root" ] || fail "$LOCKS is $(stat -c '%a %U' "$LOCKS")"
grep -qx "range $ra" "$SA/uids" || fail "$SA/uids does not record range $ra"

# A second Core on the same state directory is refused.
run_image "$KOS_IMAGES/data_suid.zip" --state-dir "$SA"
[ "$RC" -eq 4 ] || fail "a second Core on $SA: exit status $RC, expected 4"
expect "core: the state directory $SA is in use by another Core"
kill -TERM "$PID2"
wait "$PID2" || true
PID2=

# Core A again, with A's state directory recording a range far above those
# other Cores take: that range it gets, being free.
kill -TERM "$PID"
wait "$PID" || true
PID=
far=900
printf '# KOS host uid range of this state directory (docs/running.md)\nformat 1\nrange %s\n' \
  "$far" >"$SA/uids"
start_image "$KOS_IMAGES/data_suid.zip" --state-dir "$SA"
wait_for "planter: info: suid: "
[ "$(base_of "$OUT")" = $((UID_BASE + far * UID_SPAN)) ] ||
  fail "Core took host uids from $(base_of "$OUT"), not the free range $far its state directory records"
expect "core: storage: /data of 'planter' given to host uid [0-9]+ \(it belonged to uid [0-9]+\)"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"

# Taken: Core takes another range and gives the data to it.
exec 9>"$LOCKS/$far.lock"
flock -n 9 || fail "range $far is still locked after its Core ended"
start_image "$KOS_IMAGES/data_suid.zip" --state-dir "$SA"
wait_for "planter: info: suid: /data/suid written ok"
c=$(base_of "$OUT")
[ "$c" != $((UID_BASE + far * UID_SPAN)) ] || fail "Core took range $far although it was held"
expect "core: storage: /data of 'planter' given to host uid $((c + 1)) \(it belonged to uid [0-9]+\)"  # msg0 is 0
stop_image TERM
exec 9>&-
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
grep -qx "range $(((c - UID_BASE) / UID_SPAN))" "$SA/uids" || fail "$SA/uids: $(cat "$SA/uids")"
echo "PASS"
