#!/bin/bash
# The docs cannot drift from the code: every ```c block of README.md, docs/
# and docs/packages/ compiles against the tree's headers (and, when it is a
# whole program, links with libkos); every ```sh block that runs kos-tool
# runs, as written, against the build tree; every kos-tool command the docs
# show (in any block, or inline) names a sub-command that exists and only
# options its --help lists; the fuzzing guide's seed loop names every folder
# fuzz_seeds writes. Markers and conventions: tests/docs/README.md.
# Environment: KOS_SOURCE_DIR, KOS_BUILD_DIR, KOS_CC, KOS_C_FLAGS,
# KOS_LINK_FLAGS (the build's compiler and flags, for sanitizer builds).
set -euo pipefail
SRC=${KOS_SOURCE_DIR:?}
BUILD=${KOS_BUILD_DIR:?}
CC=${KOS_CC:-cc}
TOOL=$BUILD/bin/kos-tool
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kos-test-docs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

cd "$SRC"
docs=(README.md docs/*.md docs/packages/*.md)
python3 "$SRC/tests/docs/extract.py" "$WORK" "${docs[@]}" || { echo "FAIL: the doc-test markers" >&2; exit 1; }

# ---- C blocks: compiled with the warnings an app's build should heed.
# Fragments stand for part of a function whose other uses are left out, so
# unused variables are not warned about there; an unused result is, always.
# lib/'s internal headers are reached only with quotes ("component_int.h"),
# as components include them; an app's <kos/...> includes never reach them.
flags=(-std=gnu11 -O2 -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -Wunused-result -I"$SRC/include" -iquote "$BUILD" -iquote "$SRC/lib")
frag_flags=(-Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-parameter -Wno-unused-function)
n_c=0
while read -r file kind where; do
  n_c=$((n_c + 1))
  extra=()
  [ "$kind" = fragment ] && extra=("${frag_flags[@]}")
  # shellcheck disable=SC2086
  if ! "$CC" ${KOS_C_FLAGS:-} "${flags[@]}" "${extra[@]}" -c "$WORK/c/$file" -o "$WORK/c/$file.o" \
       2>"$WORK/c/$file.err"; then
    cat "$WORK/c/$file.err" >&2
    fail "$where: the C block does not compile (as $kind; the source is below)"
    cat -n "$WORK/c/$file" >&2
    continue
  fi
  if [ "$kind" = program ] &&
     ! "$CC" ${KOS_LINK_FLAGS:-} "$WORK/c/$file.o" "$BUILD/lib/libkos.a" -o "$WORK/c/$file.bin" \
       2>"$WORK/c/$file.err"; then
    cat "$WORK/c/$file.err" >&2
    fail "$where: the C program does not link with libkos"
  fi
done <"$WORK/c/list"

# ---- kos-tool commands: the sub-command exists, and every option written
# is one its --help lists.
helps=$WORK/help
mkdir "$helps"
# has_option SUB OPTION: kos-tool SUB --help lists OPTION.
has_option() { grep -qE -- "(^|[][ ,|])$2([][ ,=|]|\$)" "$helps/$1"; }
n_cmd=0
while IFS=$'\t' read -r where cmd; do
  n_cmd=$((n_cmd + 1))
  read -r -a words <<<"$cmd"
  sub=${words[1]:-}
  case $sub in
    --help | --version | -h) continue ;;
    ... | "" | [A-Z]*) continue ;; # `kos-tool COMMAND --help`, `kos-tool ...`
  esac
  if [ ! -e "$helps/$sub" ]; then
    if ! "$TOOL" "$sub" --help >"$helps/$sub" 2>&1; then
      fail "$where: '$cmd': kos-tool has no sub-command '$sub'"
      echo >"$helps/$sub.bad"
      continue
    fi
  fi
  [ -e "$helps/$sub.bad" ] && { fail "$where: '$cmd': kos-tool has no sub-command '$sub'"; continue; }
  for w in "${words[@]:2}"; do
    w=${w#[} w=${w%%]*} w=${w%%=*} w=${w%%|*} w=${w%...}
    case $w in
      --?* | -[a-zA-Z])
        if ! has_option "$sub" "$w"; then
          if grep -q "^$sub $w	" "$SRC/tests/docs/pending.txt"; then
            echo "pending: $where: kos-tool $sub $w (tests/docs/pending.txt)"
          else
            fail "$where: '$cmd': kos-tool $sub has no option $w (its --help does not list it)"
          fi
        fi ;;
    esac
  done
done <"$WORK/commands"

# An option pending.txt says is coming must not be there already.
while IFS=$'\t' read -r entry why; do
  read -r sub opt <<<"$entry"
  "$TOOL" "$sub" --help >"$helps/$sub" 2>&1 || true
  if has_option "$sub" "$opt"; then
    fail "tests/docs/pending.txt: kos-tool $sub $opt exists now; remove its line ($why)"
  fi
done < <(grep -v '^#' "$SRC/tests/docs/pending.txt" | grep .)

# ---- sh blocks that run kos-tool: in order, each doc's blocks in one
# scratch folder (a later block may use what an earlier one made), with
# the build tree's kos-tool first on PATH. Setup lines prepare what the doc
# takes for granted (a system.yaml, built binaries, an image).
n_sh=0
prev_doc=
while read -r file doc where; do
  n_sh=$((n_sh + 1))
  if [ "$doc" != "$prev_doc" ]; then
    scratch=$WORK/run/${doc//\//_}
    mkdir -p "$scratch"
    prev_doc=$doc
  fi
  if ! (cd "$scratch" && PATH="$BUILD/bin:$PATH" KOS_SOURCE_DIR="$SRC" KOS_BUILD_DIR="$BUILD" \
          bash -euo pipefail "$WORK/sh/$file") >"$WORK/sh/$file.out" 2>&1; then
    cat "$WORK/sh/$file.out" >&2
    fail "$where: the sh block fails when run (its script, setup first, is below)"
    cat -n "$WORK/sh/$file" >&2
  fi
done <"$WORK/sh/list"

# ---- docs/fuzzing.md's seed loop covers every folder fuzz_seeds writes
# that a fuzz target reads.
if [ -x "$BUILD/tests/fuzz_seeds" ]; then
  "$BUILD/tests/fuzz_seeds" "$WORK/seeds" >/dev/null
  want=$(find "$WORK/seeds" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')
  have=$(tr ' ' '\n' <"$WORK/fuzz_loop" | grep . | sort | tr '\n' ' ')
  [ "$want" = "$have" ] ||
    fail "docs/fuzzing.md: the seed loop goes over '$have'; fuzz_seeds writes '$want'"
else
  fail "no $BUILD/tests/fuzz_seeds to check docs/fuzzing.md's seed loop against"
fi

sed 's/^/skipped: /' "$WORK/skipped"
echo "checked: $n_c C blocks, $n_cmd kos-tool commands, $n_sh sh blocks run"
[ "$failures" -eq 0 ] || { echo "FAIL: $failures problems in the docs" >&2; exit 1; }
echo PASS
