#!/bin/sh
# kos-tool keys.generate, manifest.build and manifest.check, run as a user
# runs them: exit statuses, the lines they print, and refusals.
# Usage: test_tool_image.sh KOS_TOOL
set -eu
KOS_TOOL=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-tool-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_STATUS CMD... : runs kos-tool, keeping stdout and stderr.
run() {
  want=$1; shift
  set +e
  "$KOS_TOOL" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  if [ "$rc" -ne "$want" ]; then
    cat "$WORK/out" "$WORK/err" >&2
    fail "kos-tool $*: exit status $rc, expected $want"
  fi
}
# expect FILE PATTERN: FILE (out or err) has a line matching PATTERN (grep -E).
expect() {
  grep -Eq -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "no line matching '$2' in $1"; }
}

# keys.generate
run 0 keys.generate --release --out "$WORK/keys/sub"
expect out "^wrote $WORK/keys/sub/release.key .* key id [0-9a-f]{16}$"
[ "$(stat -c %a "$WORK/keys/sub/release.key")" = 600 ] || fail "release.key mode"
[ "$(stat -c %a "$WORK/keys/sub/release.pub")" = 644 ] || fail "release.pub mode"
[ "$(stat -c %a "$WORK/keys/sub")" = 700 ] || fail "key folder mode"
id=$(sed -n 's/.*key id \([0-9a-f]*\)$/\1/p' "$WORK/out")
run 1 keys.generate --release --out "$WORK/keys/sub"
expect err "^kos-tool keys.generate: release key .*release.key already exists; refusing to overwrite it$"
run 2 keys.generate --out "$WORK/k2"
expect err "^kos-tool keys.generate: give one of --release"
run 2 keys.generate --release --bogus
expect err "^kos-tool keys.generate: unknown option '--bogus'; see kos-tool keys.generate --help$"
run 0 keys.generate --help
expect out "^usage: kos-tool keys.generate --release --out DIR"

# A tiny system: one message server and two apps, binaries from /bin.
mkdir "$WORK/bins"
cp /bin/true "$WORK/bins/hello"
cat >"$WORK/system.yaml" <<'YAML'
system: tooltest
message_servers:
  msg0:
    binary: msg_server
apps:
  hello: {}
  bye:
    binary: false
YAML

run 0 manifest.check "$WORK/system.yaml"
expect out "^summary: 0 errors, 2 warnings, 0 info, 0 waived; pass \\(--fail-on error\\)$"

run 0 manifest.build "$WORK/system.yaml" -o "$WORK/img.zip" --key "$WORK/keys/sub/release.key" \
  --bin msg_server=/bin/true --bin-dir "$WORK/bins" --bin-dir /bin
expect out "^wrote $WORK/img.zip \\(3 blobs, signed by key $id\\)$"
[ -f "$WORK/img.zip" ] || fail "no image written"
# The build runs the assurance checks and prints their findings on stderr,
# as manifest.check does; they do not stop the build.
expect err "^$WORK/system.yaml:[0-9]+:[0-9]+: warning: \\[KOS-A008\\] app 'hello' has no memory limit$"
expect err "^    fix: "
expect err "^kos-tool manifest.build: the assurance checks found 0 errors and 2 warnings \\(and 0 info, 0 waived: kos-tool manifest.check $WORK/system.yaml shows them all\\)$"

# A protocol name with a typo builds, with the warning that says so; with
# --strict it fails and writes nothing.
cat >"$WORK/typo.yaml" <<'YAML'
system: typo
message_servers:
  msg0:
    binary: msg_server
apps:
  hello:
    memory: 4MiB
    protocols:
      msg0:
        publish: [weather_protocol]
  bye:
    binary: false
    memory: 4MiB
    protocols:
      msg0:
        request: [waether_protocol]
YAML
run 0 manifest.build "$WORK/typo.yaml" -o "$WORK/typo.zip" --key "$WORK/keys/sub/release.key" \
  --bin msg_server=/bin/true --bin-dir "$WORK/bins" --bin-dir /bin
expect err "^$WORK/typo.yaml:16:19: warning: \\[KOS-A003\\] app 'bye' requests protocol 'waether_protocol' on msg0, where no app publishes it$"
expect err "^$WORK/typo.yaml:10:19: warning: \\[KOS-A004\\] app 'hello' publishes protocol 'weather_protocol'"
expect out "^wrote $WORK/typo.zip "
rm "$WORK/typo.zip"
run 1 manifest.build "$WORK/typo.yaml" -o "$WORK/typo.zip" --key "$WORK/keys/sub/release.key" \
  --bin msg_server=/bin/true --bin-dir "$WORK/bins" --bin-dir /bin --strict
expect err "\\[KOS-A003\\] app 'bye' requests protocol 'waether_protocol'"
expect err "^kos-tool manifest.build: --strict: no image written, as the assurance checks found errors or warnings"
[ ! -e "$WORK/typo.zip" ] || fail "--strict with findings wrote an image"
# manifest.check reports them too; warnings fail it only with --strict (or --fail-on warning).
run 0 manifest.check "$WORK/typo.yaml"
expect out "^summary: 0 errors, 2 warnings, 0 info, 0 waived; pass \\(--fail-on error\\)$"
run 1 manifest.check --strict "$WORK/typo.yaml"
expect out "^summary: 0 errors, 2 warnings, 0 info, 0 waived; FAIL \\(--fail-on warning\\)$"
# A clean manifest builds with --strict and prints no findings.
sed -i 's/waether_protocol/weather_protocol/' "$WORK/typo.yaml"
run 0 manifest.build "$WORK/typo.yaml" -o "$WORK/typo.zip" --key "$WORK/keys/sub/release.key" \
  --bin msg_server=/bin/true --bin-dir "$WORK/bins" --bin-dir /bin --strict
[ ! -s "$WORK/err" ] || { cat "$WORK/err" >&2; fail "a clean build printed something on stderr"; }
# Same inputs, same bytes.
run 0 manifest.build "$WORK/system.yaml" -o "$WORK/img2.zip" --key="$WORK/keys/sub/release.key" \
  --bin=msg_server=/bin/true --bin-dir "$WORK/bins" --bin-dir=/bin
cmp -s "$WORK/img.zip" "$WORK/img2.zip" || fail "two builds differ"

# Failures: no key, a missing binary, a bad manifest, a readable key.
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --bin-dir /bin
expect err "^kos-tool manifest.build: manifest requires signing; give --key$"
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.key" \
  --bin-dir "$WORK/bins"
# (msg_server itself is found among the built components; the app's binary is not.)
expect err "^kos-tool manifest.build: binary 'false' of app 'bye' not found: no --bin false=PATH, and not at $WORK/bins/false, "
printf 'system: bad\nappz: {}\n' >"$WORK/bad.yaml"
run 1 manifest.build "$WORK/bad.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.key"
expect err "^kos-tool manifest.build: $WORK/bad.yaml:2:1: "
run 1 manifest.check "$WORK/bad.yaml"
expect err "^kos-tool manifest.check: $WORK/bad.yaml:2:1: "
cp "$WORK/keys/sub/release.key" "$WORK/open.key"
chmod 644 "$WORK/open.key"
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/open.key" --bin-dir /bin
expect err "^kos-tool manifest.build: release key $WORK/open.key may be read or written by group or others \\(mode 0644\\)"
[ ! -e "$WORK/x.zip" ] || fail "a failed build left $WORK/x.zip"
ls "$WORK" | grep -q tmp && fail "a failed build left a temporary file"
# The public half given by mistake: said at once, naming the private half,
# with no advice about its mode (0644 is right for a public key).
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.pub" --bin-dir /bin
expect err "^kos-tool manifest.build: release key $WORK/keys/sub/release.pub is a public key \\(-----BEGIN PUBLIC KEY-----\\), not a private one: sign with its private half, $WORK/keys/sub/release.key$"
grep -q chmod "$WORK/err" && fail "a public key given as --key gets chmod advice"
cp "$WORK/keys/sub/release.pub" "$WORK/pubcopy"
chmod 600 "$WORK/pubcopy"
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/pubcopy" --bin-dir /bin
expect err "^kos-tool manifest.build: release key $WORK/pubcopy is a public key .*: sign with the private half of the pair"
# And the private half given to --trust.
run 3 run "$WORK/img.zip" --trust "$WORK/keys/sub/release.key"
expect out "trusted key $WORK/keys/sub/release.key is a private key, not a public one: trust its public half, $WORK/keys/sub/release.pub"

# kos-tool run given something that cannot be an image says what to give.
run 3 run "$WORK/keys" --trust "$WORK/keys/sub/release.pub"
expect err "^kos-tool run: $WORK/keys is a folder, not a system image: give the .zip that kos-tool manifest.build -o wrote"
run 3 run "$WORK/system.yaml" --trust "$WORK/keys/sub/release.pub"
expect err "^kos-tool run: $WORK/system.yaml is a manifest, not a system image: build the image first, with kos-tool manifest.build $WORK/system.yaml -o manifest.zip"
cp "$WORK/system.yaml" "$WORK/system.txt"
run 3 run "$WORK/system.txt" --trust "$WORK/keys/sub/release.pub"
expect err "is a manifest, not a system image"

# No key is ever packed into an image: a binary that is a private key, or
# holds one, is refused and nothing is written.
cp "$WORK/keys/sub/release.key" "$WORK/keyfile"
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.key" \
  --bin hello="$WORK/keyfile" --bin-dir /bin
expect err "^kos-tool manifest.build: binary 'hello' of app 'hello': $WORK/keyfile holds a private key .*refusing to pack a key into an image"
cat /bin/true "$WORK/keys/sub/release.key" /bin/true >"$WORK/withkey"
run 1 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.key" \
  --bin hello="$WORK/withkey" --bin-dir /bin
expect err "holds a private key"
[ ! -e "$WORK/x.zip" ] || fail "a refused build left $WORK/x.zip"
# A public key is not a secret.
cat /bin/true "$WORK/keys/sub/release.pub" >"$WORK/withpub"
run 0 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --key "$WORK/keys/sub/release.key" \
  --bin hello="$WORK/withpub" --bin-dir /bin
rm -f "$WORK/x.zip"

# Signing disabled: --key is ignored with a warning.
printf 'system: nosig\nsigning: disabled\nmessage_servers:\n  msg0:\n    binary: true\napps:\n  hello: {}\n' \
  >"$WORK/nosig.yaml"
run 0 manifest.build "$WORK/nosig.yaml" -o "$WORK/nosig.zip" --key "$WORK/keys/sub/release.key" \
  --bin-dir "$WORK/bins" --bin-dir /bin
expect err "^kos-tool manifest.build: warning: .*nosig.yaml says signing: disabled, so --key .* is ignored"
expect out "^wrote $WORK/nosig.zip \\(2 blobs, unsigned"

# Usage errors exit 2 and name the bad argument.
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --frobnicate
expect err "^kos-tool manifest.build: unknown option '--frobnicate'"
run 2 manifest.build "$WORK/system.yaml"
expect err "^kos-tool manifest.build: no output given: add -o OUT.zip; see kos-tool manifest.build --help$"
run 2 manifest.build "$WORK/system.yaml" -o "$WORK/x.zip" --bin nonsense
expect err "^kos-tool manifest.build: --bin 'nonsense' is not NAME=PATH$"
run 2 manifest.build "$WORK/system.yaml" -o
expect err "^kos-tool manifest.build: option '-o' needs a value"
run 2 manifest.check
expect err "^kos-tool manifest.check: no MANIFEST given"
run 0 manifest.build --help
expect out "^usage: kos-tool manifest.build MANIFEST -o OUT.zip"
run 0 manifest.check --help
expect out "^usage: kos-tool manifest.check MANIFEST \\[--json\\]"
echo PASS
