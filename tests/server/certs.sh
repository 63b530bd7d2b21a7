# certs.sh - certificates for link tests, made with the openssl CLI
# (sourced). All keys Ed25519, as the device's identity is.
#   mk_ca DIR                      DIR/ca.key, DIR/ca.crt: the server's device CA
#   mk_server_cert DIR             DIR/server.key, DIR/server.crt for IP 127.0.0.1, by that CA
#   device_id KEY                  the hex SHA-256 of KEY's raw public key
#   mk_device_cert DIR KEY OUT [CN]  a device certificate for KEY (CN the device id)
mk_ca() {
  openssl genpkey -algorithm ed25519 -out "$1/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$1/ca.key" -subj "/CN=KOS test device CA" -days 2 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -out "$1/ca.crt" 2>/dev/null
}
mk_server_cert() {
  openssl genpkey -algorithm ed25519 -out "$1/server.key" 2>/dev/null
  openssl req -new -key "$1/server.key" -subj "/CN=127.0.0.1" -out "$1/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$1/server.ext"
  openssl x509 -req -in "$1/server.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -set_serial 2 \
    -days 2 -extfile "$1/server.ext" -out "$1/server.crt" 2>/dev/null
}
device_id() {
  openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | tail -c 32 | sha256sum | cut -c1-64
}
mk_device_cert() {
  local cn=${4:-$(device_id "$2")}
  openssl req -new -key "$2" -subj "/CN=$cn" -out "$3.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$3.ext"
  openssl x509 -req -in "$3.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -set_serial "$RANDOM$RANDOM" \
    -days 2 -extfile "$3.ext" -out "$3" 2>/dev/null
}
