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
echo "PASS"
