#!/usr/bin/env python3
"""stream_peer.py - the far end of forwarded streams in the system tests
and the benchmark: a TCP server on 127.0.0.1 that serves each connection
in a thread until it closes.

  stream_peer.py echo|sink|time|close PORTFILE STATSFILE [CERT KEY]

echo sends every byte back; sink reads and drops them; time does too, and
hashes nothing (bench/link/stream_bench.sh's sinks); close ends its side
of each connection as soon as it comes, then drops what it reads until the
other side closes (and writes nothing to STATSFILE). A connection's
running byte count is written to STATSFILE as "open N" while it lasts
(each MiB; the last writer wins), and "closed N SHA256 SECONDS" (of every
byte it read, "-" for time; SECONDS from its first byte to its end) is
added to STATSFILE.closed when it ends. With CERT and KEY it speaks TLS
1.3 (no session tickets). The port it listens on is written to PORTFILE
once it listens. Stops on SIGTERM.
"""
import hashlib
import os
import socket
import ssl
import sys
import threading
import time

mode, portfile, statsfile = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
tls = None
if len(sys.argv) > 5:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_3
    tls.num_tickets = 0  # nothing left unread at the client's close
    tls.load_cert_chain(sys.argv[4], sys.argv[5])


def stats(line):
    with lock:
        tmp = statsfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, statsfile)


def serve(conn):
    if mode == "close":
        # Its end at once (FIN), then what the server had sent is read and
        # dropped until the server closes too: closing with bytes unread
        # would send a reset instead, which may overtake the FIN.
        conn.shutdown(socket.SHUT_WR)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()
        return
    h, n, last, t0 = hashlib.sha256(), 0, 0, None
    buf = bytearray(65536)
    if tls:
        try:
            conn = tls.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
    with conn:
        while True:
            try:
                k = conn.recv_into(buf)
            except OSError:
                break
            if not k:
                break
            if t0 is None:
                t0 = time.monotonic()
            b = memoryview(buf)[:k]
            if mode != "time":
                h.update(b)
            n += k
            if mode == "echo":
                try:
                    conn.sendall(b)
                except OSError:
                    break
            if n - last >= 1 << 20:
                last = n
                stats(f"open {n}")
    with lock:
        with open(statsfile + ".closed", "a") as f:
            t1 = time.monotonic()
            digest = "-" if mode == "time" else h.hexdigest()
            f.write(f"closed {n} {digest} {t1 - (t0 or t1):.6f}\n")


lis = socket.socket()
lis.bind(("127.0.0.1", 0))
lis.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(lis.getsockname()[1]))
os.replace(portfile + ".tmp", portfile)
while True:
    c, _ = lis.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
