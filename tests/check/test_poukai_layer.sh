#!/bin/bash
# kos-tool manifest.check and the Poukai layer (layers/poukai.yaml): every
# example whose manifest says `base: poukai` checks clean at --fail-on info
# (no error, warning or info; a finding the layer waives with its reason is
# shown as waived), as does a system of the layer alone; admin and the
# tunnel are part of it (admin managing the system), and either can be left
# out (`~`) or named with settings.
# Usage: test_poukai_layer.sh KOS_TOOL   (KOS_SOURCE_DIR set)
set -eu
KOS_TOOL=$1
SRC=${KOS_SOURCE_DIR:?}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-poukai-layer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { # run EXPECTED_STATUS ARGS...
  want=$1; shift
  set +e
  "$KOS_TOOL" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  [ "$rc" -eq "$want" ] || { cat "$WORK/out" "$WORK/err" >&2; fail "kos-tool $*: exit $rc, expected $want"; }
}
expect() { grep -Eq -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "no line matching '$2' in $1"; }; }
expect_not() { ! grep -Eq -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "a line matching '$2' in $1"; }; }
clean='^summary: 0 errors, 0 warnings, 0 info, [0-9]+ waived; pass \(--fail-on info\)$'

n=0
for ex in "$SRC"/examples/*/system.yaml; do
  grep -qE '^base: poukai( |$)' "$ex" || continue
  run 0 manifest.check --fail-on info "$ex"
  expect out "$clean"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no example builds on the poukai layer"

printf 'system: bare\nbase: poukai\n' >"$WORK/bare.yaml"
run 0 manifest.check --fail-on info "$WORK/bare.yaml"
expect out "$clean"
expect out "poukai.yaml:[0-9]+:[0-9]+: waived \(warning\): \[KOS-A006\] app 'tunnel' "
expect_not out "KOS-A003"
expect_not out "KOS-A019"
# The system interface for another app than the layer's admin is flagged.
printf 'system: s\nbase: poukai\napps:\n  admin: {manages_system: false}\n  mine: {memory: 8MiB, manages_system: true}\n' >"$WORK/moved.yaml"
run 1 manifest.check "$WORK/moved.yaml"
expect out "moved.yaml:5:40: error: \[KOS-A019\] app 'mine' manages the system"

# Left out: valid for the optional entries as for the others.
cat >"$WORK/lean.yaml" <<'YAML'
system: lean
base: poukai
apps:
  tunnel: ~
  admin: ~
  key_store: ~
  self_test:
    config: {key_store: skip}
    protocols:
      msg0: {request: [kos_rng_protocol, kos_log_protocol]}
YAML
run 0 manifest.check --fail-on info "$WORK/lean.yaml"
expect out "$clean"
# Removing key_store but not the self test's request is reported.
printf 'system: s\nbase: poukai\napps:\n  key_store: ~\n' >"$WORK/half.yaml"
run 0 manifest.check "$WORK/half.yaml"
expect out "poukai.yaml:[0-9]+:[0-9]+: warning: \[KOS-A003\] app 'self_test' requests protocol 'kos_keystore_protocol'"

# Named, with settings: the layer's entries with their waivers, built.
printf 'system: full\nbase: poukai\napps:\n  tunnel: {config: {window: 32KiB}}\n  admin: {config: {health_every: 30s}}\n' >"$WORK/full.yaml"
run 0 manifest.check --fail-on info "$WORK/full.yaml"
expect out "$clean"
expect out "poukai.yaml:[0-9]+:[0-9]+: waived \(warning\): \[KOS-A006\] app 'tunnel' "
run 1 manifest.build "$WORK/full.yaml" -o "$WORK/full.zip" --key /nonexistent
[ ! -e "$WORK/full.zip" ] || fail "a failed build left an image"
mkdir -m 700 "$WORK/k"
"$KOS_TOOL" keys.generate --release --out "$WORK/k" >/dev/null
run 0 manifest.build "$WORK/full.yaml" -o "$WORK/full.zip" --key "$WORK/k/release.key"
[ -s "$WORK/full.zip" ] || fail "no image of the layer with tunnel and admin"

# A manifest may not make an app optional itself.
printf 'system: s\nbase: poukai\napps:\n  mine: {optional: true}\n' >"$WORK/opt.yaml"
run 1 manifest.check "$WORK/opt.yaml"
expect err "opt.yaml:4:10: 'optional' is for a base layer's apps"
echo PASS
