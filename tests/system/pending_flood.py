#!/usr/bin/env python3
"""pending_flood.py PORT CA N - connects to a device port N times, each time
with a new Ed25519 key and its own self-signed certificate (CN = the device
id, as kos-tool keys.generate --pending makes it), completes the TLS
handshake and sends the link's upgrade request; prints how many were
answered 202 (waiting for approval). What a flood of unknown keys does to a
server (tests/system/test_studio_pending.sh)."""
import datetime
import hashlib
import os
import socket
import ssl
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID


def one(port, ca, folder):
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    dev_id = hashlib.sha256(raw).hexdigest()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dev_id)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, None))
    kp, cp = os.path.join(folder, 'k.pem'), os.path.join(folder, 'c.pem')
    with open(kp, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cp, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cp, kp)
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname='127.0.0.1') as t:
            t.sendall(b'GET /kos/link/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
                      b'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                      b'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kos-link.1\r\n\r\n')
            answer = b''
            while b'\r\n\r\n' not in answer:
                got = t.recv(4096)
                if not got:
                    break
                answer += got
    return answer.startswith(b'HTTP/1.1 202 ') and b'Kos-Reason: waiting for approval' in answer


def main():
    port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory() as folder:
        print(sum(one(port, ca, folder) for _ in range(n)))


main()
