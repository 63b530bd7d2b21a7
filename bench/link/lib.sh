# bench/link/lib.sh - what bench/link's runners share (sourced by run.sh
# and device_lib.sh): free loopback ports, and Mosquitto 2 as the peer: a
# broker in the scratch folder $WORK/mq, where `link_load certs` made its CA and its certificate,
# TLS 1.3 only, client certificates required, the user name taken from the
# certificate, persistence off. Runs under ${server_cpu[@]} when the runner
# pins its servers; MQ_EXTRA is one more line of configuration.
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
mq_pid=""

# alternate RUN FIRST SECOND [ARGS...]: runs FIRST ARGS... RUN and SECOND
# ARGS... RUN, FIRST first in odd runs and SECOND first in even ones, so
# that neither side of a benchmark always goes first.
alternate() {
  local run=$1 a=$2 b=$3
  shift 3
  if [ $((run % 2)) -eq 1 ]; then
    "$a" "$@" "$run"
    "$b" "$@" "$run"
  else
    "$b" "$@" "$run"
    "$a" "$@" "$run"
  fi
}

# kv_awk: the awk function v(line, key), the value of the word KEY=VALUE
# in a result line (or ""), for the runners' summaries.
kv_awk='
function v(line, key,   i, n, kv) {
  n = split(line, kv, " ")
  for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
  return ""
}'

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_mosquitto: a broker on a free port with the run's certificates;
# sets mq_port and mq_pid.
start_mosquitto() {
  local conf=$WORK/mq/mosquitto.conf
  mq_port=$(free_port)
  {
    [ "$(id -u)" -eq 0 ] && echo "user root" # else it would drop to 'mosquitto', who cannot read the keys
    echo "persistence false"
    echo "log_dest file $WORK/mq/mosquitto.log"
    echo "listener $mq_port 127.0.0.1"
    echo "cafile $WORK/mq/ca.crt"
    echo "certfile $WORK/mq/server.crt"
    echo "keyfile $WORK/mq/server.key"
    echo "tls_version tlsv1.3"
    echo "require_certificate true"
    echo "use_identity_as_username true"
    [ -n "${MQ_EXTRA:-}" ] && echo "$MQ_EXTRA"
  } >"$conf"
  "${server_cpu[@]}" "$mosquitto" -c "$conf" 2>>"$WORK/mq/mosquitto.err" &
  mq_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$mq_port") 2>/dev/null && return 0
    kill -0 "$mq_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "${0##*/}: mosquitto did not start:" >&2
  cat "$WORK/mq/mosquitto.err" "$WORK/mq/mosquitto.log" >&2 2>/dev/null || true
  exit 1
}

stop_mosquitto() {
  if [ -n "$mq_pid" ]; then
    kill -TERM "$mq_pid" 2>/dev/null || true
    wait "$mq_pid" 2>/dev/null || true
    mq_pid=""
  fi
}
