#!/usr/bin/env python3
"""stream_peer.py - the far end of forwarded streams in the system tests
and the benchmark: a TCP server on 127.0.0.1 that serves each connection
in a thread until it closes.

  stream_peer.py echo|sink PORTFILE STATSFILE

echo sends every byte back; sink reads and drops them. A connection's
running byte count is written to STATSFILE as "open N" while it lasts
(each MiB; the last writer wins), and "closed N SHA256" (of every byte it
read) is added to STATSFILE.closed when it ends. The port it
listens on is written to PORTFILE once it listens. Stops on SIGTERM.
"""
import hashlib
import os
import socket
import sys
import threading

mode, portfile, statsfile = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()


def stats(line):
    with lock:
        tmp = statsfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, statsfile)


def serve(conn):
    h, n, last = hashlib.sha256(), 0, 0
    with conn:
        while True:
            try:
                b = conn.recv(65536)
            except OSError:
                break
            if not b:
                break
            h.update(b)
            n += len(b)
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
            f.write(f"closed {n} {h.hexdigest()}\n")


lis = socket.socket()
lis.bind(("127.0.0.1", 0))
lis.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(lis.getsockname()[1]))
os.replace(portfile + ".tmp", portfile)
while True:
    c, _ = lis.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
