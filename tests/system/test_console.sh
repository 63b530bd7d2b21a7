# Long lines are split, partial lines are flushed at exit, nothing is lost,
# and control characters cannot forge lines.
source "$(dirname "$0")/lib.sh"

run_image "$KOS_IMAGES/console.zip"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_well_formed
lens=$(grep -E '^\S+ spew: ' "$OUT" | sed -E 's/^\S+ spew: //' | awk '{print length($0)}' | tr '\n' ' ')
[ "$lens" = "2048 2048 904 " ] || fail "spew's lines had lengths '$lens', expected '2048 2048 904 '"
text=$(grep -E '^\S+ spew: ' "$OUT" | sed -E 's/^\S+ spew: //' | tr -d '\n')
want=$(python3 -c "print(''.join(chr(97 + i % 26) for i in range(5000)), end='')")
[ "$text" = "$want" ] || fail "spew's output was altered"

# A console that closes (kos-tool run ... | head -2) ends nothing: the system
# runs to its end, Core exits 0, the state directory is removed, and the
# console file keeps every line and says when the console went.
mkdir "$WORK/xdg"
set +e
XDG_RUNTIME_DIR="$WORK/xdg" timeout 60 "$KOS_TOOL" run --trust "$KOS_TRUST" \
  --console "$WORK/file.txt" "$KOS_EXAMPLES/ping_pong/ping_pong.zip" | head -2 >"$WORK/head.txt"
status=("${PIPESTATUS[@]}")
set -e
[ "${status[0]}" -eq 0 ] || fail "kos-tool run | head -2: kos-tool exited with ${status[0]}, expected 0"
[ "$(wc -l <"$WORK/head.txt")" -eq 2 ] || fail "head did not get 2 lines"
[ -z "$(ls -A "$WORK/xdg")" ] || fail "left behind: $(ls -A "$WORK/xdg")"
OUT=$WORK/file.txt
expect "core: the console output is gone \(Broken pipe\); lines go to this file only$"
expect "ping: info: done: 5 rounds, scoreboard total 5$"
expect "core: system stopped \(exit status 0\)$"
expect_well_formed
echo "PASS"
