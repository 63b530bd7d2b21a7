#!/usr/bin/env python3
"""stream_sink.py - both ends of bench/link/stream_bench.sh's direct TLS 1.3
transfer, and the sink of its forwarded stream.

  stream_sink.py sink PORTFILE RESULTS [CERT KEY]
      listens on 127.0.0.1 (TLS 1.3 with CERT and KEY when given, plain
      TCP otherwise), writes the port to PORTFILE, and for each connection
      reads until EOF, then adds "bytes N seconds S" to RESULTS: S from its
      first byte to its end. Stops on SIGTERM.
  stream_sink.py send PORT BYTES CA
      connects to 127.0.0.1:PORT with TLS 1.3 (verifying against CA), sends
      BYTES bytes in 64 KiB writes, closes.
"""
import os
import socket
import ssl
import sys
import time

CHUNK = 65536


def sink(portfile, results, cert=None, key=None):
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(cert, key)
        ctx.num_tickets = 0  # as the device port: nothing unread at the client's close
    lis = socket.socket()
    lis.bind(("127.0.0.1", 0))
    lis.listen(4)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(lis.getsockname()[1]))
    os.replace(portfile + ".tmp", portfile)
    buf = bytearray(CHUNK)
    while True:
        c, _ = lis.accept()
        if ctx:
            c = ctx.wrap_socket(c, server_side=True)
        n, t0 = 0, None
        with c:
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                if t0 is None:
                    t0 = time.monotonic()
                n += k
        t1 = time.monotonic()
        with open(results, "a") as f:
            f.write("bytes %d seconds %.6f\n" % (n, t1 - (t0 or t1)))


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
    if sys.argv[1] == "sink":
        sink(*sys.argv[2:])
    elif sys.argv[1] == "send":
        send(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        print(__doc__)
        sys.exit(2)
