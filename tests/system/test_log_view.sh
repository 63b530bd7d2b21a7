# A saved console stream can be filtered offline by app and time, and bad
# input gets a clear error.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_EXAMPLES/ping_pong/ping_pong.zip" --console "$WORK/saved.log"
[ "$RC" -eq 0 ] || fail "ping_pong: exit status $RC"
cmp -s "$OUT" "$WORK/saved.log" || fail "the saved console differs from the printed one"

"$KOS_TOOL" log.view "$WORK/saved.log" --app pong >"$WORK/pong.log"
[ -s "$WORK/pong.log" ] || fail "no pong lines"
! grep -vqE '^\S+ pong: ' "$WORK/pong.log" || fail "log.view --app pong printed other apps' lines"
[ "$(wc -l <"$WORK/pong.log")" -eq "$(grep -cE '^\S+ pong: ' "$WORK/saved.log")" ] ||
  fail "log.view --app pong lost lines"

"$KOS_TOOL" log.view "$WORK/saved.log" --app pong --app ping >"$WORK/two.log"
[ "$(wc -l <"$WORK/two.log")" -eq "$(grep -cE '^\S+ (pong|ping): ' "$WORK/saved.log")" ] ||
  fail "two --app filters"

first=$(head -1 "$WORK/saved.log" | cut -c1-19)
"$KOS_TOOL" log.view "$WORK/saved.log" --since "$first" >"$WORK/since.log"
cmp -s "$WORK/since.log" "$WORK/saved.log" || fail "--since the first second kept too little"
"$KOS_TOOL" log.view "$WORK/saved.log" --since 2999-01-01 >"$WORK/none.log"
[ ! -s "$WORK/none.log" ] || fail "--since the future printed lines"
"$KOS_TOOL" log.view "$WORK/saved.log" --until 2000-01-01 >"$WORK/none.log"
[ ! -s "$WORK/none.log" ] || fail "--until the past printed lines"
"$KOS_TOOL" log.view "$WORK/saved.log" --since 1h >"$WORK/recent.log"
cmp -s "$WORK/recent.log" "$WORK/saved.log" || fail "--since 1h dropped lines"

set +e
"$KOS_TOOL" log.view "$WORK/saved.log" --since yesterday 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--since yesterday: exit $rc, expected 2"
grep -q "takes a UTC timestamp" "$WORK/err" || fail "bad --since message: $(cat "$WORK/err")"

{ head -2 "$WORK/saved.log"; echo "garbage line"; tail -1 "$WORK/saved.log"; } >"$WORK/mixed.log"
set +e
"$KOS_TOOL" log.view "$WORK/mixed.log" >"$WORK/kept.log" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "malformed line: exit $rc, expected 1"
grep -q "mixed.log:3: not a console line" "$WORK/err" || fail "malformed line message: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/kept.log")" -eq 3 ] || fail "valid lines around a malformed one were lost"

set +e
"$KOS_TOOL" log.view "$WORK/missing.log" 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "cannot open .*missing.log" "$WORK/err" || fail "missing file"
echo "PASS"
