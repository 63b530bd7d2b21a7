#!/bin/bash
# kos-tool manifest.check as CI runs it: the text report's lines, the JSON
# document (valid, every field, escaping), waivers, --fail-on exit statuses,
# usage and manifest errors, and the examples coming out clean of errors.
# Usage: test_check_tool.sh KOS_TOOL   (KOS_SOURCE_DIR and KOS_CHECK_DIR set)
set -eu
KOS_TOOL=$1
SRC=${KOS_SOURCE_DIR:?}
CHK=${KOS_CHECK_DIR:?}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_STATUS ARGS... : runs kos-tool manifest.check, keeping output.
run() {
  want=$1; shift
  set +e
  "$KOS_TOOL" manifest.check "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    cat "$WORK/out" "$WORK/err" >&2
    fail "manifest.check $*: exit status $rc, expected $want"
  fi
}
# expect FILE PATTERN / expect_not FILE PATTERN (grep -E on out or err).
expect() {
  grep -Eq -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "no line matching '$2' in $1"; }
}
expect_not() {
  if grep -Eq -- "$2" "$WORK/$1"; then cat "$WORK/$1" >&2; fail "a line matches '$2' in $1"; fi
}
# json PYTHON_EXPR_LINES : runs python with `d` = the JSON document in out.
json() {
  python3 -m json.tool "$WORK/out" >/dev/null || { cat "$WORK/out" >&2; fail "out is not JSON"; }
  python3 -c "
import json, sys
d = json.load(open('$WORK/out', encoding='utf-8'))
$1
" || { cat "$WORK/out" >&2; fail "JSON check failed"; }
}

# --- the examples: no errors, and today no warnings either ------------------
n=0
for ex in "$SRC"/examples/*/system.yaml; do
  run 0 "$ex"
  expect_not out ': error: '
  expect out '^summary: 0 errors, .*; pass \(--fail-on error\)$'
  run 0 --fail-on warning "$ex"
  n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "no examples found under $SRC/examples"

# --- a manifest with an error, warnings and an info -----------------------
cat >"$WORK/mixed.yaml" <<'YAML'
system: mixed
base: minimal
signing: disabled
profile: development
apps:
  hungry: {}
YAML
run 1 "$WORK/mixed.yaml"
expect out "^$WORK/mixed.yaml:3:10: error: \\[KOS-A001\\] signing is disabled"
expect out "^$WORK/mixed.yaml:6:3: warning: \\[KOS-A008\\] app 'hungry' has no memory limit$"
expect out "^$WORK/mixed.yaml:4:10: info: \\[KOS-A016\\] "
expect out '^    reason: an unsigned image can be replaced'
expect out '^    fix: remove .signing: disabled.'
expect out '^summary: 1 error, 1 warning, 1 info, 0 waived; FAIL \(--fail-on error\)$'
# Every finding line has the documented shape, followed by reason and fix.
grep -vE '^(    (reason|fix): |summary: )' "$WORK/out" |
  grep -vE "^$WORK/mixed.yaml:[0-9]+:[0-9]+: (error|warning|info): \\[KOS-A[0-9]{3}\\] " &&
  fail "a line of the text report has an unexpected shape"
[ "$(grep -c '^    reason: ' "$WORK/out")" = 3 ] || fail "not one reason per finding"
[ "$(grep -c '^    fix: ' "$WORK/out")" = 3 ] || fail "not one fix per finding"
# Findings come in file order.
[ "$(grep -oE '^[^ ]+:[0-9]+:' "$WORK/out" | cut -d: -f2 | tr '\n' ' ')" = "3 4 6 " ] ||
  fail "findings are not sorted by line"

# --fail-on: each level, and never.
run 1 --fail-on error "$WORK/mixed.yaml"
run 1 --fail-on=warning "$WORK/mixed.yaml"
run 1 --fail-on info "$WORK/mixed.yaml"
run 0 --fail-on never "$WORK/mixed.yaml"
expect out 'FAIL|pass'
expect out '; pass \(--fail-on never\)$'

sed 's/^signing: disabled$/signing: enabled/' "$WORK/mixed.yaml" >"$WORK/warn.yaml"
run 0 "$WORK/warn.yaml"
run 1 --fail-on warning "$WORK/warn.yaml"
run 1 --fail-on info "$WORK/warn.yaml"
sed 's/^  hungry: {}$/  hungry: {memory: 8MiB}/' "$WORK/warn.yaml" >"$WORK/info.yaml"
run 0 --fail-on warning "$WORK/info.yaml"
run 1 --fail-on info "$WORK/info.yaml"
expect out '^summary: 0 errors, 0 warnings, 1 info, 0 waived; FAIL \(--fail-on info\)$'

# --- waivers: a waived error does not fail; the report shows it -----------
cat >"$WORK/waived.yaml" <<'YAML'
system: lab
base: minimal
profile: development
apps:
  admin:
    memory: 8MiB
    config: {remote_shell: enabled}
    waive:
      KOS-A002: "lab bench: \"quoted\" \\ back\tslash, café ☃ 😀 — the operator needs a shell \u202e\u2028"
      KOS-A099: "a waiver for a rule that is not in the catalogue"
YAML
run 0 "$WORK/waived.yaml"
expect out "^$WORK/waived.yaml:7:14: waived \\(error\\): \\[KOS-A002\\] app 'admin' enables a remote shell"
expect out "^    waived at $WORK/waived.yaml:9:7: \"lab bench: "
# The people's report prints manifest text as the console prints app text:
# valid UTF-8 as it is, the bidi override and the line separator escaped.
expect out "café ☃ 😀 — the operator needs a shell \\\\u202e\\\\u2028\"$"
expect out "^$WORK/waived.yaml:10:7: warning: \\[KOS-A014\\] app 'admin' waives rule 'KOS-A099', which does not exist"
expect out '^summary: 0 errors, 1 warning, 1 info, 1 waived; pass \(--fail-on error\)$'
run 1 --fail-on warning "$WORK/waived.yaml"

# --- JSON --------------------------------------------------------------------
run 0 --json "$WORK/waived.yaml"
json "
assert set(d) == {'manifest', 'system', 'profile', 'fail_on', 'result', 'summary', 'findings'}, d.keys()
assert d['manifest'] == '$WORK/waived.yaml' and d['system'] == 'lab'
assert d['profile'] == 'development' and d['fail_on'] == 'error' and d['result'] == 'pass'
assert d['summary'] == {'error': 0, 'warning': 1, 'info': 1, 'waived': 1}, d['summary']
keys = {'rule', 'slug', 'severity', 'app', 'file', 'line', 'column', 'message', 'title',
        'reason', 'fix', 'waived', 'justification', 'waiver'}
for f in d['findings']:
    assert set(f) == keys, f.keys()
    assert f['severity'] in ('error', 'warning', 'info')
    assert isinstance(f['line'], int) and isinstance(f['column'], int)
    assert f['reason'] and f['fix'] and f['title'] and f['message']
    assert f['waived'] == (f['justification'] is not None) == (f['waiver'] is not None)
byrule = {f['rule']: f for f in d['findings']}
assert set(byrule) == {'KOS-A002', 'KOS-A014', 'KOS-A016'}, byrule.keys()
w = byrule['KOS-A002']
assert w['waived'] is True and w['severity'] == 'error' and w['app'] == 'admin'
assert w['slug'] == 'remote-shell-enabled'
assert (w['line'], w['column']) == (7, 14)
assert w['justification'] == 'lab bench: \"quoted\" \\\\ back\tslash, café ☃ 😀 — the operator needs a shell \u202e\u2028', repr(w['justification'])
assert w['waiver'] == {'file': '$WORK/waived.yaml', 'line': 9, 'column': 7}
s = byrule['KOS-A014']
assert s['waived'] is False and s['app'] == 'admin' and s['justification'] is None
i = byrule['KOS-A016']
assert i['app'] is None and i['severity'] == 'info'
"

run 1 --json "$WORK/mixed.yaml"
json "
assert d['result'] == 'fail'
assert d['summary'] == {'error': 1, 'warning': 1, 'info': 1, 'waived': 0}
assert [f['rule'] for f in d['findings']] == ['KOS-A001', 'KOS-A016', 'KOS-A008']
assert [f['line'] for f in d['findings']] == [3, 4, 6]
"
run 0 --json --fail-on never "$WORK/mixed.yaml"
json "assert d['result'] == 'pass' and d['fail_on'] == 'never'"

# A clean manifest: an empty list.
run 0 --json "$SRC/examples/hello/system.yaml"
json "assert d['findings'] == [] and d['summary'] == {'error': 0, 'warning': 0, 'info': 0, 'waived': 0}"

# Layer files: findings point into them; --layer-dir finds the layer.
run 0 --json --layer-dir "$CHK/layers" "$CHK/layered/remove_key_store.yaml"
json "
f = {x['rule']: x for x in d['findings']}
assert f['KOS-A003']['file'].endswith('/layers/netbase.yaml'), f['KOS-A003']
assert f['KOS-A003']['app'] == 'tunnel'
assert f['KOS-A006']['waived'] and 'network link' in f['KOS-A006']['justification']
"

# --- manifest errors and usage errors -----------------------------------------
printf 'system: bad\napps:\n  a: {memroy: 8MiB}\n' >"$WORK/bad.yaml"
run 1 "$WORK/bad.yaml"
expect err "^kos-tool manifest.check: $WORK/bad.yaml:3:7: unknown key 'memroy' in app 'a'"
[ -s "$WORK/out" ] && fail "a manifest error printed a report"
run 1 --json "$WORK/bad.yaml"
expect err "^kos-tool manifest.check: $WORK/bad.yaml:3:7: "
json "
assert d['result'] == 'error'
assert d['error']['line'] == 3 and d['error']['column'] == 7
assert d['error']['message'].startswith(\"unknown key 'memroy'\")
"
run 1 "$WORK/missing.yaml"
expect err "^kos-tool manifest.check: $WORK/missing.yaml: cannot read manifest"

run 2
expect err '^kos-tool manifest.check: no MANIFEST given'
run 2 --fail-on severe "$WORK/mixed.yaml"
expect err "^kos-tool manifest.check: --fail-on takes error, warning, info or never, not 'severe'$"
run 2 "$WORK/mixed.yaml" --fail-on
expect err "^kos-tool manifest.check: option '--fail-on' needs a value"
run 2 --jsn "$WORK/mixed.yaml"
expect err "^kos-tool manifest.check: unknown option '--jsn'"
run 2 "$WORK/mixed.yaml" "$WORK/warn.yaml"
expect err '^kos-tool manifest.check: unexpected argument'
run 0 --help
expect out '^usage: kos-tool manifest.check MANIFEST \[--json\] \[--fail-on LEVEL \| --strict\]'
echo PASS
