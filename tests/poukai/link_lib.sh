# link_lib.sh - a device key bundle provisioned for a test server of the
# device link, and that server: link_server.py (python3-websockets, an
# independent implementation of the server end of docs/link.md). Sourced
# after tests/system/lib.sh by tunnel_test.sh, admin_shell_test.sh and
# admin_debug_test.sh; sets
# KEYS (the bundle; its server.txt is the caller's to write) and ID (the
# device id).
# Environment: KOS_TOOL, KOS_TRUST, KOS_TUNNEL_DIR (tests/poukai),
# KOS_SERVER_TESTS (tests/server, for certs.sh).
source "$KOS_SERVER_TESTS/certs.sh"
export LC_ALL=C
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SRV=
cleanup_srv() { [ -z "$SRV" ] || { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; }; SRV=; }
trap 'cleanup_srv; cleanup' EXIT

# The bundle, and what provisioning adds to it (docs/link.md).
KEYS=$WORK/device
"$KOS_TOOL" keys.generate --device --out "$KEYS" --trust "$KOS_TRUST" >/dev/null ||
  fail "keys.generate --device failed"
mkdir "$WORK/pki"
mk_ca "$WORK/pki"
mk_server_cert "$WORK/pki"
ID=$(device_id "$KEYS/identity.key")
mk_device_cert "$WORK/pki" "$KEYS/identity.key" "$WORK/pki/identity.crt"
keyid() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | tail -c 32 | sha256sum | cut -c1-16; }
cp "$WORK/pki/identity.crt" "$KEYS/identity.crt"
cp "$WORK/pki/ca.crt" "$KEYS/server_ca.crt"
openssl pkey -in "$WORK/pki/ca.key" -pubout -out "$WORK/pki/ca.pub" 2>/dev/null
chmod 644 "$KEYS/identity.crt" "$KEYS/server_ca.crt"
{
  echo "identity_cert x509 - identity.crt $(keyid "$KEYS/identity.pub")"
  echo "server_ca x509 - server_ca.crt $(keyid "$WORK/pki/ca.pub")"
  echo "server text - server.txt -"
} >>"$KEYS/bundle.txt"

# start_server MODE PORT: link_server.py in MODE on PORT (0: any); sets PORT.
start_server() {
  cleanup_srv
  rm -f "$WORK/port"
  "$PY" "$KOS_TUNNEL_DIR/link_server.py" "$1" "$2" "$WORK/pki/server.crt" "$WORK/pki/server.key" \
    "$WORK/pki/ca.crt" "$WORK/port" >>"$WORK/server.out" 2>&1 &
  SRV=$!
  for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || { cat "$WORK/server.out" >&2; fail "link_server.py did not start"; }
  PORT=$(cat "$WORK/port")
}
srv_wait() { # srv_wait N REGEX: up to 30 s for N server lines matching
  for _ in $(seq 300); do [ "$(grep -cE -- "$2" "$WORK/server.out" || true)" -ge "$1" ] && return 0; sleep 0.1; done
  cat "$WORK/server.out" >&2; fail "fewer than $1 server lines matching '$2'"
}

# boot_linked MODE NAME VALUE: link_server.py in MODE on a free port, and
# the system of $KOS_TUNNEL_DIR/admin_NAME.yaml.in (its @PORT@ that port,
# its @VALUE@ VALUE) built and started linked to it.
boot_linked() {
  start_server "$1" 0
  printf 'address 127.0.0.1:%s\nname %s test server\n' "$PORT" "$2" >"$KEYS/server.txt"
  chmod 644 "$KEYS/server.txt"
  sed -e "s/@PORT@/$PORT/g" -e "s/@VALUE@/$3/g" "$KOS_TUNNEL_DIR/admin_$2.yaml.in" \
    >"$WORK/$2_$3.yaml"
  "$KOS_TOOL" manifest.build "$WORK/$2_$3.yaml" -o "$WORK/$2_$3.zip" --key "$KOS_KEY" \
    >"$WORK/build.txt" 2>&1 || { cat "$WORK/build.txt" >&2; fail "cannot build the system"; }
  start_image "$WORK/$2_$3.zip" --keys "$KEYS"
}
