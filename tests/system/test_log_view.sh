# A saved console stream can be filtered offline by app and time, and bad
# input gets a clear error.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_EXAMPLES/ping_pong/ping_pong.zip" --console "$WORK/saved.log"
[ "$RC" -eq 0 ] || fail "ping_pong: exit status $RC"
cmp -s "$OUT" "$WORK/saved.log" || fail "the saved console differs from the printed one"

"$KOS_TOOL" log.view "$WORK/saved.log" --app pong >"$WORK/pong.log"
[ -s "$WORK/pong.log" ] || fail "no pong lines"
# pong's own lines, and Core's about pong (its exit, its place in the summary).
! grep -vqE "^\S+ (pong: |core: .*'pong')" "$WORK/pong.log" ||
  fail "log.view --app pong printed other lines: $(grep -vE "^\S+ (pong: |core: .*'pong')" "$WORK/pong.log")"
[ "$(wc -l <"$WORK/pong.log")" -eq "$(grep -cE "^\S+ (pong: |core: .*'pong')" "$WORK/saved.log")" ] ||
  fail "log.view --app pong lost lines"
grep -qE "^\S+ core: app 'pong' stopped$" "$WORK/pong.log" || fail "--app pong: no line of Core's about pong"

# A name that never appears is said on stderr.
"$KOS_TOOL" log.view "$WORK/saved.log" --app pnog >"$WORK/none.log" 2>"$WORK/err"
[ ! -s "$WORK/none.log" ] || fail "--app pnog printed lines"
grep -q "no line from or about app 'pnog' in .*saved.log" "$WORK/err" || fail "--app pnog: $(cat "$WORK/err")"

# --level: at or above the level; lines without one (Core's) count as info.
"$KOS_TOOL" log.view "$WORK/saved.log" --level info >"$WORK/info.log"
cmp -s "$WORK/info.log" "$WORK/saved.log" || fail "--level info dropped lines"
printf '%s\n' "2026-11-26T16:01:02.345678Z a: debug: d" "2026-11-26T16:01:02.345679Z a: warn: w" \
  "2026-11-26T16:01:02.345680Z a: error: e" "2026-11-26T16:01:02.345681Z core: c" >"$WORK/levels.log"
[ "$("$KOS_TOOL" log.view "$WORK/levels.log" --level warn | cut -d' ' -f2- | tr '\n' '|')" = "a: warn: w|a: error: e|" ] ||
  fail "--level warn"
[ "$("$KOS_TOOL" log.view "$WORK/levels.log" --level debug | wc -l)" -eq 4 ] || fail "--level debug"
set +e
"$KOS_TOOL" log.view "$WORK/levels.log" --level loud 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "level takes debug, info, warn or error, not 'loud'" "$WORK/err" || fail "--level loud"

# Through a pipe, each line comes out as it is read, not at the end: the
# first line reaches the reader while the writer still holds the pipe open.
exec 3> >("$KOS_TOOL" log.view - --app pong >"$WORK/stream.log")
head -3 "$WORK/saved.log" >&3
grep "pong: " "$WORK/saved.log" | head -1 >&3
for _ in $(seq 100); do [ -s "$WORK/stream.log" ] && break; sleep 0.1; done
[ -s "$WORK/stream.log" ] || fail "log.view - did not print a line before its input ended"
exec 3>&-

"$KOS_TOOL" log.view "$WORK/saved.log" --app pong --app ping >"$WORK/two.log"
[ "$(wc -l <"$WORK/two.log")" -eq "$(grep -cE "^\S+ ((pong|ping): |core: .*'(pong|ping)')" "$WORK/saved.log")" ] ||
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
