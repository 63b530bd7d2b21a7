# logrng_lib.sh - helpers the rng_server and log_server system tests add to
# tests/system/lib.sh (source that first).

# A system started with start_image is stopped whatever happens.
trap 'if [ -n "${PID:-}" ]; then kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; fi; rm -rf "$WORK"' EXIT

# app_pid NAME: the host pid of app NAME in the system started by
# start_image (a descendant of $PID whose argv[0] is NAME).
app_pid() {
  local p q
  for p in $(pgrep -f "^$1( |\$)"); do
    q=$p
    while [ -n "$q" ] && [ "$q" -gt 1 ]; do
      q=$(ps -o ppid= -p "$q" 2>/dev/null | tr -d ' ')
      if [ "$q" = "$PID" ]; then
        echo "$p"
        return 0
      fi
    done
  done
  return 1
}
