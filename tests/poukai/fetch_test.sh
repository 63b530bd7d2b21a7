# The tunnel's blob fetch (KOS_TUNNEL_LABEL_FETCH, docs/packages/tunnel.md)
# in booted systems on sim, against blob_server.py (Python's ssl: TLS 1.3,
# the device's certificate required against the device CA) on the server's
# address from the bundle: an app given `blobs` fetches into a pipe and
# says the SHA-256 of what it read, checked here against the file's bytes:
# a whole blob read slowly (the tunnel waits for room in the pipe), a
# resumed fetch, a prefix, a 200 for a whole blob; each hostile answer
# (wrong Content-Range, a Content-Length beyond the range, chunked, 403,
# 404, a connection cut, a stall, a header block that never ends, bytes
# beyond the length) ends with its status and the tunnel fetches again
# after it; one fetch at a time; an app without `blobs` is refused; an app
# that goes away has its fetch cancelled.
source "$(dirname "$0")/../system/lib.sh"
source "$(dirname "$0")/logrng_lib.sh"
source "$(dirname "$0")/link_lib.sh"

BLOBS=$WORK/blobs
mkdir "$BLOBS"
: >"$BLOBS/modes.txt"
# blob NAME SIZE [MODE]: a random blob in $BLOBS, its SHA-256 in ${NAME}.
blob() {
  head -c "$2" /dev/urandom >"$WORK/$1.bin"
  local h
  h=$(sha256sum "$WORK/$1.bin" | cut -c1-64)
  cp "$WORK/$1.bin" "$BLOBS/$h"
  [ -z "${3:-}" ] || echo "$h $3" >>"$BLOBS/modes.txt"
  eval "$1=$h"
}
# slice NAME FROM TO: the SHA-256 of bytes [FROM, TO) of blob NAME.
slice() {
  "$PY" -c 'import hashlib, sys; d = open(sys.argv[1], "rb").read()[int(sys.argv[2]):int(sys.argv[3])]; print(hashlib.sha256(d).hexdigest())' \
    "$WORK/$1.bin" "$2" "$3"
}
EMPTY=$(sha256sum </dev/null | cut -c1-64)

SIZE=3145728
blob big $SIZE
blob whole 70000 whole
blob badrange 5000 badrange
blob toolong 5000 toolong
blob chunked 5000 chunked
blob forbid 5000 forbid
blob cut 200000 cut
blob stall 200000 stall
blob endless 5000 endless
blob extra 5000 extra
blob stall2 1000 stall
MISSING=$(echo missing | sha256sum | cut -c1-64)

# blob_server CA [PORT]: blob_server.py trusting device CA CA; sets PORT.
blob_server() {
  cleanup_srv
  rm -f "$WORK/port"
  "$PY" "$KOS_TUNNEL_DIR/blob_server.py" "$BLOBS" "$WORK/pki/server.crt" "$WORK/pki/server.key" \
    "$1" "$WORK/port" ${2:-} >>"$WORK/server.out" 2>&1 &
  SRV=$!
  for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || { cat "$WORK/server.out" >&2; fail "blob_server.py did not start"; }
  PORT=$(cat "$WORK/port")
}
blob_server "$WORK/pki/ca.crt"
printf 'address 127.0.0.1:%s\nname blob test server\n' "$PORT" >"$KEYS/server.txt"
chmod 644 "$KEYS/server.txt"

# build NAME ALLOW IDLE APPS: the image of fetch_sys.yaml.in.
build() {
  printf '%s\n' "$4" >"$WORK/$1.apps"
  sed -e "s/@PORT@/$PORT/g" -e "s/@ALLOW@/$2/g" -e "s/@IDLE@/$3/g" -e "/@APPS@/{r $WORK/$1.apps" -e 'd}' \
    "$KOS_TUNNEL_DIR/fetch_sys.yaml.in" >"$WORK/$1.yaml"
  "$KOS_TOOL" manifest.build "$WORK/$1.yaml" -o "$WORK/$1.zip" --key "$KOS_KEY" \
    --bin "t_fetch=$KOS_FETCH_APP" >"$WORK/build.txt" 2>&1 ||
    { cat "$WORK/build.txt" >&2; fail "cannot build $1"; }
}
app() { # app NAME RESTART ARGS...: a manifest entry of t_fetch
  local name=$1 restart=$2 args=""
  shift 2
  for a in "$@"; do args+="\"$a\", "; done
  printf '  %s:\n    binary: t_fetch\n    memory: 16MiB\n    restart: %s\n    args: [%s]\n    protocols:\n      msg0: {request: [kos_tunnel_protocol]}\n' \
    "$name" "$restart" "${args%, }"
}

SPECS=("$big:0:$SIZE:slow" "$big:1000:$SIZE" "$big:0:5000" "$whole:0:70000" "$whole:10:70000"
  "$badrange:100:5000" "$toolong:100:5000" "$chunked:100:5000" "$forbid:0:5000"
  "$MISSING:0:10" "$cut:0:200000" "$stall:0:200000" "$endless:0:5000" "$extra:0:5000"
  "$big:$((SIZE - 10)):$SIZE" "$big:0:$SIZE:deaf")
build fetch_sys fetcher 2s "$(app fetcher permanent fetcher "${SPECS[@]}"; app outsider temporary outsider "$big:0:10")"
start_image "$WORK/fetch_sys.zip" --keys "$KEYS"
wait_for "fetcher: info: done$"
expect "tunnel: info: allow: 'fetcher' may fetch blobs$"
# fetched N STATUS WRITTEN READ SHA: fetch N's line.
fetched() {
  expect "fetcher: info: fetch $1: $2, $3 written, $4 read, sha256 $5: "
}
fetched 1 ok $SIZE $SIZE "$(slice big 0 $SIZE)"
expect "fetcher: info: second fetch: busy$"
fetched 2 ok $((SIZE - 1000)) $((SIZE - 1000)) "$(slice big 1000 $SIZE)"
fetched 3 ok 5000 5000 "$(slice big 0 5000)"
fetched 4 ok 70000 70000 "$(slice whole 0 70000)"
fetched 5 "protocol error" 0 0 "$EMPTY"
expect "fetcher: info: fetch 5: .*the server answered HTTP 200 to a ranged GET"
fetched 6 "protocol error" 0 0 "$EMPTY"
expect "fetcher: info: fetch 6: .*Content-Range bytes 101-4999/5000 \(asked for bytes 100-4999"
fetched 7 "protocol error" 0 0 "$EMPTY"
expect "fetcher: info: fetch 7: .*Content-Length 4901 for a range of 4900 bytes"
fetched 8 "protocol error" 0 0 "$EMPTY"
expect "fetcher: info: fetch 8: .*Transfer-Encoding header \(chunked\)"
fetched 9 "connection refused" 0 0 "$EMPTY"
fetched 10 "not found" 0 0 "$EMPTY"
fetched 11 unreachable 100000 100000 "$(slice cut 0 100000)"
expect "fetcher: info: fetch 11: .*the connection ended after 100000 of 200000 bytes"
fetched 12 timeout 100000 100000 "$(slice stall 0 100000)"
expect "fetcher: info: fetch 12: .*no byte from the server for 2000 ms"
fetched 13 "protocol error" 0 0 "$EMPTY"
expect "fetcher: info: fetch 13: .*header block is over 8192 bytes"
# Bytes beyond the Content-Length: never written; the fetch may end before
# they come (ok) or see them (protocol error).
fetched 14 "(ok|protocol error)" 5000 5000 "$(slice extra 0 5000)"
fetched 15 ok 10 10 "$(slice big $((SIZE - 10)) $SIZE)"
# Nobody reads the pipe: the tunnel's write fails.
expect "fetcher: info: fetch 16: i/o error, [0-9]+ written, 0 read, sha256 $EMPTY: writing to the descriptor failed after [0-9]+ bytes: Broken pipe$"
expect_count 16 "fetcher: info: status: ok$"
# The tunnel's one line per fetch.
expect "tunnel: info: fetch of blob ${big:0:16}\.\.\. bytes 0-$SIZE for 'fetcher': $SIZE bytes written; ok$"
expect "tunnel: warn: fetch of blob ${forbid:0:16}\.\.\. bytes 0-5000 for 'fetcher': 0 bytes written; connection refused: the server refused this device \(HTTP 403\)$"
# What the server saw: the range asked for, in docs/link.md's form.
grep -q "^get $big bytes=1000-$((SIZE - 1)) good$" "$WORK/server.out" || fail "no resumed range"
# An app without blobs.
wait_for "outsider: info: fetch: unauthorized$"
expect "tunnel: warn: denied: 'outsider' may not fetch blobs \(the allow setting\)"
expect_not "core: app 'tunnel' (exited|killed)"
stop_image TERM
cp "$OUT" "$WORK/fetch_sys.out"
[ "$RC" -eq 0 ] || fail "exit status $RC, expected 0"
expect_well_formed

# An app that goes away while its fetch waits for the server (which has
# sent 500 of 1000 bytes, and stalls): cancelled.
build fetch_quit quitter 1h "$(app quitter temporary quitter "$stall2:0:1000")"
start_image "$WORK/fetch_quit.zip" --keys "$KEYS"
wait_for "quitter: info: quitting$"
wait_for "tunnel: warn: fetch of blob ${stall2:0:16}\.\.\. bytes 0-1000 for 'quitter': 500 bytes written; closed: its app went away$"
stop_image TERM

# A server that does not know the device's CA: its TLS alert (after the
# device's side of the TLS 1.3 handshake is done) is a refusal. The fetch
# can be refused before the app could try a second one, which would then
# start: it tries none (once).
mkdir "$WORK/other"
mk_ca "$WORK/other"
blob_server "$WORK/other/ca.crt" "$PORT"
build fetch_refused fetcher 2s "$(app fetcher permanent fetcher "$big:0:10:once")"
start_image "$WORK/fetch_refused.zip" --keys "$KEYS"
wait_for "fetcher: info: done$"
expect "fetcher: info: fetch 1: connection refused, 0 written, 0 read, sha256 $EMPTY: the server refused this device \(TLS: .*(unknown ca|certificate)"
stop_image TERM
echo PASS
