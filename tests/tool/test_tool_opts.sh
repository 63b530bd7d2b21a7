#!/bin/bash
# kos-tool's one command-line parser, sub-command by sub-command: every
# option is accepted as `--name VALUE` and as `--name=VALUE` (and a short
# one as `-o VALUE` and `-oVALUE`) with the same effect, and usage errors say
# which option was unknown, which needs a value, and what a bad value could
# have been.
# Environment: KOS_TOOL, KOS_IMAGE (examples/hello's image), KOS_TRUST (its
# release public key), KOS_HELLO (the hello binary), KOS_SOURCE_DIR.
set -euo pipefail
T=${KOS_TOOL:?}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-opts.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_STATUS ARGS... : runs kos-tool, stdout in $WORK/out, stderr in $WORK/err.
run() {
  local want=$1 rc=0
  shift
  "$T" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "kos-tool $*: exit status $rc, expected $want"; }
}
# expect FILE PATTERN: FILE (out or err) has a line matching PATTERN (grep -E).
expect() {
  grep -Eq -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "no line matching '$2' in $1"; }
}
# What a boot of hello shows whatever its timing: the image verified, the
# boot, hello's line (without timestamps).
console() { grep -E "core: image .* verified|core: booting|hello: info" "$1" | sed -E 's/^[0-9T:.Z-]+ //'; }

# ---- run: each option in both forms, one at a time, the same boot.
# boot FILE ARGS...: boots hello with ARGS, its console without timestamps in FILE.
boot() {
  local f=$1
  shift
  run 0 run "$@"
  expect out "hello: info: Hello from KOS"
  console "$WORK/out" >"$WORK/$f"
}
boot plain "$KOS_IMAGE" --trust "$KOS_TRUST"
boot eq "$KOS_IMAGE" --trust="$KOS_TRUST"
cmp -s "$WORK/plain" "$WORK/eq" || { diff "$WORK/plain" "$WORK/eq" >&2; fail "run: --trust=FILE boots differently"; }
"$T" keys.generate --device --out "$WORK/device" --trust "$KOS_TRUST" >/dev/null
mkdir "$WORK/state-sp" "$WORK/state-eq"
# name, value with a space, value with '=', a line the boot must show
while IFS='|' read -r name v1 v2 line; do
  boot sp "$KOS_IMAGE" --trust "$KOS_TRUST" "--$name" "$v1"
  [ -z "$line" ] || expect out "${line//VALUE/$v1}"
  boot eq "$KOS_IMAGE" --trust "$KOS_TRUST" "--$name=$v2"
  [ -z "$line" ] || expect out "${line//VALUE/$v2}"
  if [ "$v1" = "$v2" ]; then
    cmp -s "$WORK/sp" "$WORK/eq" || { diff "$WORK/sp" "$WORK/eq" >&2; fail "run: --$name=$v2 differs from --$name $v1"; }
  fi
done <<EOF
keys|$WORK/device|$WORK/device|core: .*device_keys
console|$WORK/console-sp.log|$WORK/console-eq.log|
grace|250|250|
self-test-timeout|5000|5000|
state-dir|$WORK/state-sp|$WORK/state-eq|core: state directory: VALUE
isolation|best-effort|best-effort|
EOF
grep -q "hello: info: Hello from KOS" "$WORK/console-sp.log" || fail "run --console FILE wrote no console"
grep -q "hello: info: Hello from KOS" "$WORK/console-eq.log" || fail "run --console=FILE wrote no console"
boot sp "$KOS_IMAGE" --trust "$KOS_TRUST" --allow-unsigned
boot sp "$KOS_IMAGE" --trust "$KOS_TRUST" -- # "--" ends the options
boot sp --trust "$KOS_TRUST" -- "$KOS_IMAGE"

# Usage errors name the option and say what was wrong.
run 2 run "$KOS_IMAGE" --trsut="$KOS_TRUST"
expect err "^kos-tool run: unknown option '--trsut' \\(did you mean --trust\\?\\); see kos-tool run --help$"
run 2 run "$KOS_IMAGE" --tru "$KOS_TRUST" # whole names only
expect err "^kos-tool run: unknown option '--tru' \\(did you mean --trust\\?\\)"
run 2 run "$KOS_IMAGE" --trust
expect err "^kos-tool run: option '--trust' needs a value \\(--trust PUBKEY\\); see kos-tool run --help$"
run 2 run "$KOS_IMAGE" --trust=
expect err "^kos-tool run: option '--trust' needs a value, not an empty one"
run 2 run "$KOS_IMAGE" --trust --keys "$WORK/device"
expect err "^kos-tool run: option '--trust' needs a value \\(--trust PUBKEY\\), not the option '--keys'"
run 2 run "$KOS_IMAGE" --allow-unsigned=yes
expect err "^kos-tool run: option '--allow-unsigned' takes no value, not 'yes'"
run 2 run "$KOS_IMAGE" --isolation=tight
expect err "^kos-tool run: --isolation takes strict, best-effort or none, not 'tight'$"
run 2 run "$KOS_IMAGE" --grace=soon
expect err "^kos-tool run: --grace takes milliseconds from 1 to 600000, not 'soon'"
run 2 run "$KOS_IMAGE" --self-test-timeout 0
expect err "^kos-tool run: --self-test-timeout takes milliseconds from 1 to 3600000, not '0'"
run 2 run "$KOS_IMAGE" -x
expect err "^kos-tool run: unknown option '-x'; see kos-tool run --help$"
run 2 run
expect err "^kos-tool run: no image given"

# ---- keys.generate: --out/-o and --trust.
run 0 keys.generate --release --out "$WORK/k1"
run 0 keys.generate --release --out="$WORK/k2"
run 0 keys.generate --release -o "$WORK/k3"
run 0 keys.generate --release -o"$WORK/k4"
for k in k1 k2 k3 k4; do [ -s "$WORK/$k/release.key" ] || fail "keys.generate wrote no $k/release.key"; done
run 0 keys.generate --device --out "$WORK/d1" --trust "$WORK/k1/release.pub"
run 0 keys.generate --device --out="$WORK/d2" --trust="$WORK/k1/release.pub"
cmp -s <(sed 's/ [0-9a-f]*$//' "$WORK/d1/bundle.txt" | grep trusted) \
  <(sed 's/ [0-9a-f]*$//' "$WORK/d2/bundle.txt" | grep trusted) || fail "keys.generate --trust=FILE"
grep -q "^trusted_0 " "$WORK/d2/bundle.txt" || fail "keys.generate --trust=FILE trusted nothing"
run 2 keys.generate --release --out
expect err "^kos-tool keys.generate: option '--out' needs a value \\(--out DIR\\)"
run 2 keys.generate --release -o
expect err "^kos-tool keys.generate: option '-o' needs a value \\(-o DIR\\)"
run 2 keys.generate --relaese --out "$WORK/k5"
expect err "^kos-tool keys.generate: unknown option '--relaese' \\(did you mean --release\\?\\); see kos-tool keys.generate --help$"
run 2 keys.generate --release=yes --out "$WORK/k5"
expect err "^kos-tool keys.generate: option '--release' takes no value"

# ---- manifest.build: every option in both forms gives the same image.
mkdir "$WORK/bin" "$WORK/layers"
cp "$KOS_HELLO" "$WORK/bin/hello"
cp "$KOS_SOURCE_DIR/layers/minimal.yaml" "$WORK/layers/"
cp "$KOS_SOURCE_DIR/examples/hello/system.yaml" "$WORK/system.yaml"
key=$WORK/k1/release.key
run 0 manifest.build "$WORK/system.yaml" -o "$WORK/a.zip" --key "$key" --bin-dir "$WORK/bin" \
  --layer-dir "$WORK/layers" --strict
run 0 manifest.build "$WORK/system.yaml" --out="$WORK/b.zip" --key="$key" --bin-dir="$WORK/bin" \
  --layer-dir="$WORK/layers" --strict
run 0 manifest.build "$WORK/system.yaml" -o"$WORK/c.zip" --key "$key" --bin hello="$WORK/bin/hello"
run 0 manifest.build "$WORK/system.yaml" --out "$WORK/d.zip" --key "$key" --bin=hello="$WORK/bin/hello"
for z in b c d; do cmp -s "$WORK/a.zip" "$WORK/$z.zip" || fail "manifest.build: $z.zip differs from a.zip"; done
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --ky "$key"
expect err "^kos-tool manifest.build: unknown option '--ky' \\(did you mean --key\\?\\); see kos-tool manifest.build --help$"
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key
expect err "^kos-tool manifest.build: option '--key' needs a value \\(--key PRIVKEY\\)"
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --bin-dir=
expect err "^kos-tool manifest.build: option '--bin-dir' needs a value, not an empty one"
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --strict=1
expect err "^kos-tool manifest.build: option '--strict' takes no value"

# ---- manifest.check: --fail-on, --layer-dir, --json, --strict.
printf 'system: w\nbase: minimal\napps:\n  a:\n    memory: 4MiB\n    protocols: {msg0: {request: [typo_protocol]}}\n' >"$WORK/warn.yaml"
run 0 manifest.check "$WORK/warn.yaml" --layer-dir "$WORK/layers"
run 1 manifest.check "$WORK/warn.yaml" --layer-dir="$WORK/layers" --fail-on warning
run 1 manifest.check "$WORK/warn.yaml" --fail-on=warning
run 1 manifest.check "$WORK/warn.yaml" --strict
expect out "; FAIL \\(--fail-on warning\\)$"
run 1 manifest.check --json "$WORK/warn.yaml" --fail-on=warning
expect out '"fail_on": "warning"'
run 2 manifest.check "$WORK/warn.yaml" --fail-on=sometimes
expect err "^kos-tool manifest.check: --fail-on takes error, warning, info or never, not 'sometimes'$"
run 2 manifest.check "$WORK/warn.yaml" --strict --fail-on info
expect err "^kos-tool manifest.check: give one --fail-on LEVEL or --strict"
run 2 manifest.check "$WORK/warn.yaml" --layer-dir
expect err "^kos-tool manifest.check: option '--layer-dir' needs a value \\(--layer-dir DIR\\)"

# ---- log.view: --app, --since, --until.
cat >"$WORK/console.log" <<'EOF'
2026-11-26T16:20:01.000000Z core: booting
2026-11-26T16:20:02.000000Z ping: info: one
2026-11-26T16:20:03.000000Z pong: info: two
EOF
run 0 log.view "$WORK/console.log" --app ping --since 2026-11-26T16:20:02 --until 2026-11-26T16:20:03
cp "$WORK/out" "$WORK/lv-sp"
run 0 log.view "$WORK/console.log" --app=ping --since=2026-11-26T16:20:02 --until=2026-11-26T16:20:03
cmp -s "$WORK/lv-sp" "$WORK/out" || fail "log.view: the = forms filter differently"
[ "$(wc -l <"$WORK/out")" -eq 1 ] && grep -q "ping: info: one" "$WORK/out" || fail "log.view filters"
run 0 log.view --app pong - <"$WORK/console.log"
expect out "pong: info: two"
printf '2026-11-26T16:20:04.000000Z ping: warn: three\n' >>"$WORK/console.log"
run 0 log.view "$WORK/console.log" --level warn
cp "$WORK/out" "$WORK/lv-sp"
run 0 log.view "$WORK/console.log" --level=warn
cmp -s "$WORK/lv-sp" "$WORK/out" && grep -q "ping: warn: three" "$WORK/out" && [ "$(wc -l <"$WORK/out")" -eq 1 ] ||
  fail "log.view --level=warn"
run 1 log.view --store "$WORK/no-store"
expect err "^kos-tool log.view: cannot open $WORK/no-store"
run 1 log.view --store="$WORK/no-store"
expect err "^kos-tool log.view: cannot open $WORK/no-store"
run 2 log.view "$WORK/console.log" --level=loud
expect err "^kos-tool log.view: --level takes debug, info, warn or error, not 'loud'$"
run 2 log.view "$WORK/console.log" --ap ping
expect err "^kos-tool log.view: unknown option '--ap' \\(did you mean --app\\?\\); see kos-tool log.view --help$"
run 2 log.view "$WORK/console.log" --since
expect err "^kos-tool log.view: option '--since' needs a value \\(--since T\\)"
run 2 log.view "$WORK/console.log" --until=later
expect err "^kos-tool log.view: --until takes a UTC timestamp"

# ---- every sub-command: --help and -h, and an unknown option named.
for cmd in run keys.generate manifest.build manifest.check log.view; do
  run 0 "$cmd" --help
  expect out "^usage: kos-tool $cmd"
  expect out "--name VALUE and --name=VALUE"
  run 0 "$cmd" -h
  run 2 "$cmd" --bogus=1
  expect err "^kos-tool $cmd: unknown option '--bogus'; see kos-tool $cmd --help$"
done
run 0 --help
expect out "^  keys.generate +make a release key pair, or a device's key bundle$"
echo PASS
