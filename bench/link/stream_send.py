#!/usr/bin/env python3
"""stream_send.py - the client of bench/link/stream_bench.sh's direct TLS
1.3 transfer (its sink is tests/system/stream_peer.py's time mode).

  stream_send.py PORT BYTES CA
      connects to 127.0.0.1:PORT with TLS 1.3 (verifying against CA), sends
      BYTES bytes in 64 KiB writes, closes.
"""
import os
import socket
import ssl
import sys

CHUNK = 65536


def send(port, total, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False
    data = os.urandom(CHUNK)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw) as s:
            left = total
            while left > 0:
                s.sendall(data[:min(left, CHUNK)])
                left -= min(left, CHUNK)
            cipher = s.cipher()[0]
            s.shutdown(socket.SHUT_WR)  # the end of the bytes; then the sink's close
            while s.recv(4096):
                pass
            print(cipher, flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    send(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
