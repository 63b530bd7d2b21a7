# lib.sh - helpers for system tests: boot an image with kos-tool run and
# check its console. Sourced by test_*.sh; needs KOS_TOOL, KOS_TRUST,
# KOS_IMAGES and KOS_EXAMPLES in the environment (set by CTest).
set -Eeuo pipefail
# A command that fails outside a check ends the test; say which, and where.
trap 'echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: \"$BASH_COMMAND\" failed (status $?)" >&2' ERR

WORK=$(mktemp -d)
PID=
# On the way out (a failed test included), a system still running is
# stopped: asked first, then killed (its processes die with Core).
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT=$WORK/console.txt

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$OUT" ]; then
    echo "--- console:" >&2
    cat "$OUT" >&2
  fi
  exit 1
}

# expect REGEX: some console line matches.
expect() { grep -qE -- "$1" "$OUT" || fail "expected a console line matching: $1"; }
# expect_not REGEX: no console line matches.
expect_not() { ! grep -qE -- "$1" "$OUT" || fail "unexpected console line matching: $1"; }
# expect_count N REGEX: exactly N console lines match.
expect_count() {
  local n
  n=$(grep -cE -- "$2" "$OUT" || true)
  [ "$n" -eq "$1" ] || fail "expected $1 lines matching '$2', found $n"
}

# run_image IMAGE [kos-tool run options...]: boots it to the end; sets RC.
run_image() {
  set +e
  timeout 60 "$KOS_TOOL" run --trust "$KOS_TRUST" "$@" >"$OUT" 2>&1
  RC=$?
  set -e
  [ "$RC" -ne 124 ] || fail "kos-tool run did not finish within 60 s"
}

# start_image IMAGE [options...]: boots it in the background; sets PID. The
# console file is emptied here, before the background job starts, so that a
# wait_for right after never sees an earlier run's lines.
start_image() {
  : >"$OUT"
  "$KOS_TOOL" run --trust "$KOS_TRUST" "$@" >>"$OUT" 2>&1 &
  PID=$!
}

# wait_for REGEX: waits up to 30 s for a console line matching REGEX.
wait_for() {
  for _ in $(seq 300); do
    grep -qE -- "$1" "$OUT" && return 0
    kill -0 "$PID" 2>/dev/null || fail "kos-tool run ended while waiting for: $1"
    sleep 0.1
  done
  fail "no console line matching '$1' within 30 s"
}

# stop_image [SIGNAL]: stops the background system; sets RC.
stop_image() {
  kill -"${1:-TERM}" "$PID"
  set +e
  wait "$PID"
  RC=$?
  set -e
}

# expect_within_budget REGEX BURST [EVERY_MS]: the lines matching REGEX come
# from a log budget of BURST lines at once and then one per EVERY_MS (default
# 1000), so between the first of them and the last there can be at most
# BURST + (that time / EVERY_MS) + 1; the console's timestamps say the time.
expect_within_budget() {
  local n allowed
  n=$(grep -cE -- "$1" "$OUT" || true)
  [ "$n" -gt 0 ] || return 0
  allowed=$(grep -E -- "$1" "$OUT" | awk -v burst="$2" -v every="${3:-1000}" '
    { split(substr($1, 12, 15), t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]
      if (NR == 1) first = s; last = s }
    END { print burst + int((last - first) * 1000 / every) + 1 }')
  [ "$n" -le "$allowed" ] ||
    fail "$n lines matching '$1'; a budget of $2, then one per ${3:-1000} ms, allows $allowed in their span"
}

# start_eth_peers: starts tests/poukai/eth_peer.py (a loopback echo server,
# a listener that never answers, a closed port, an IPv6 echo server) for
# the rest of the test, and sets ECHO STUCK CLOSED ECHO6 to their ports.
start_eth_peers() {
  python3 "$KOS_ETH_DIR/eth_peer.py" "$WORK/ports" &
  PEER=$!
  trap 'kill $PEER 2>/dev/null; cleanup' EXIT
  for _ in $(seq 100); do [ -s "$WORK/ports" ] && break; sleep 0.1; done
  [ -s "$WORK/ports" ] || fail "the loopback peers did not start"
  read -r ECHO STUCK CLOSED ECHO6 <"$WORK/ports"
}

# Every console line has the documented shape.
expect_well_formed() {
  local bad
  bad=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z [A-Za-z0-9][A-Za-z0-9_.-]*: ' "$OUT" || true)
  [ -z "$bad" ] || fail "malformed console lines: $bad"
}
