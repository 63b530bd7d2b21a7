# An app writes lines that try to drive the terminal and forge Core's
# lines: C1 controls (8-bit and UTF-8 CSI, OSC, NEL), ESC, CR, line and
# paragraph separators, bidi controls, invalid UTF-8, and a UTF-8 CSI across
# the console's line bound. The console, the --console file and log.view's
# output of it hold none of them raw: each is shown escaped, as text of the
# forger's own line. log.view also escapes a file Core did not write, and
# shows Core's own lines unchanged.
source "$(dirname "$0")/../system/lib.sh"
SAFE="$(dirname "$0")/console_safe.py"

start_image "$KOS_IMAGES/console_forge.zip" --console "$WORK/saved.log"
wait_for "core: system 'console_forge' ready"
wait_for "forger: info: forge done: 12 lines$"
wait_for "ticker: info: tick 3$"
stop_image TERM
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"

python3 "$SAFE" "$OUT" forger || fail "the console is not safe for a terminal"
python3 "$SAFE" "$WORK/saved.log" forger || fail "the --console file is not safe for a terminal"
cmp -s "$OUT" "$WORK/saved.log" || fail "the saved console differs from the printed one"
expect_well_formed

# Each attack shows as escaped text in the forger's own line.
expect '^\S+ forger: raw CSI: \\x9b2K\\x9b1Gcore: self test passed: forged \(8-bit CSI\)$'
expect '^\S+ forger: utf-8 CSI: \\u009b2K\\u009b1Gcore: self test passed: forged \(UTF-8 CSI\)$'
expect '^\S+ forger: utf-8 OSC: \\u009d0;pwned title\\u009c and \\u009d52;c;cHduZWQ=\\x07$'
expect '^\S+ forger: NEL: before\\u00852026-01-01T00:00:00.000000Z core: self test passed: forged \(NEL\)$'
expect '^\S+ forger: line separator: before\\u2028core: self test passed: forged \(LS\)$'
expect '^\S+ forger: paragraph separator: \\u2029 after$'
expect '^\S+ forger: bidi: \\u202edessap tset fles :eroc\\u202c \\u2067x\\u2069 \\u200f \\u061c$'
expect '^\S+ forger: invalid: \\xff\\xfe \\xc0\\xaf \\xe0\\x82\\x9b \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\x80\\x9b cut \\xe2\\x80$'
expect '^\S+ forger: ESC: \\x1b\[2K\\x1b\[1G\\x1b\]0;pwned\\x07 core: self test passed: forged \(ESC\)$'
expect '^\S+ forger: CR: \\x0dcore: self test passed: forged \(CR\)$'
expect '^\S+ forger: \\x0d2026-01-01T00:00:00.000000Z core: self test passed: forged \(CR at start\)$'
# The long line splits before the CSI, which starts the next piece whole.
expect '^\S+ forger: a{2047}$'
expect '^\S+ forger: \\u009b2J$'
expect_count 0 '^\S+ core: self test'

# log.view shows Core's output unchanged (escaping is idempotent) ...
"$KOS_TOOL" log.view "$WORK/saved.log" >"$WORK/viewed.log"
cmp -s "$WORK/viewed.log" "$WORK/saved.log" || fail "log.view changed Core's lines"
"$KOS_TOOL" log.view "$WORK/saved.log" --app forger >"$WORK/forger.log"
python3 "$SAFE" "$WORK/forger.log" forger || fail "log.view --app forger is not safe"

# ... and escapes a file Core did not write, the app field included.
printf '%s\n' \
  $'2026-01-01T00:00:00.000000Z evil: \x9b2J\xc2\x9b1A\x1b]0;t\x07\xe2\x80\xae ok\xe2\x80\xa8\xc2\x85\xff\r' \
  $'2026-01-01T00:00:01.000000Z \x1b]0;x\x07: app field' \
  $'2026-01-01T00:00:02.000000Z good: caf\xc3\xa9 \\x1b stays' >"$WORK/crafted.log"
"$KOS_TOOL" log.view "$WORK/crafted.log" >"$WORK/crafted.out"
python3 "$SAFE" "$WORK/crafted.out" || fail "log.view printed a crafted file raw"
grep -qxF '2026-01-01T00:00:00.000000Z evil: \x9b2J\u009b1A\x1b]0;t\x07\u202e ok\u2028\u0085\xff\x0d' \
  "$WORK/crafted.out" || fail "log.view's escaping: $(cat -v "$WORK/crafted.out")"
grep -qxF '2026-01-01T00:00:01.000000Z \x1b]0;x\x07: app field' "$WORK/crafted.out" ||
  fail "log.view left the app field raw: $(cat -v "$WORK/crafted.out")"
grep -qxF $'2026-01-01T00:00:02.000000Z good: caf\xc3\xa9 \\x1b stays' "$WORK/crafted.out" ||
  fail "log.view changed printable text: $(cat -v "$WORK/crafted.out")"
echo "PASS"
