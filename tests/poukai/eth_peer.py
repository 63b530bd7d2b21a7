#!/usr/bin/env python3
"""eth_peer.py - the network peers of the ethernet system test, on loopback.

Writes "ECHO STUCK CLOSED ECHO6" (port numbers) to the file named by its
argument, then serves until it is terminated:
  ECHO    a TCP echo server on 127.0.0.1: each connection gets back what it
          sends, and is closed once the client has shut its sending side
  STUCK   a listener whose accept queue is full and never drained: a new
          connection's handshake gets no answer, so connecting times out
  CLOSED  a port bound but not listening: connecting is refused
  ECHO6   an echo server on [::1] whose port is bound, not listening, on
          127.0.0.1 (so "localhost" is refused on its first address and
          answered on its second); 0 when the host has no IPv6 loopback
"""
import os
import signal
import socket
import sys
import threading


def echo(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def serve(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def main():
    lo = "127.0.0.1"
    echo_l = socket.socket()
    echo_l.bind((lo, 0))
    echo_l.listen(16)

    stuck = socket.socket()
    stuck.bind((lo, 0))
    stuck.listen(0)
    filler = socket.create_connection(stuck.getsockname())  # fills the queue

    closed = socket.socket()
    closed.bind((lo, 0))

    echo6, port6, shadow = None, 0, None
    for _ in range(20):
        try:
            echo6 = socket.socket(socket.AF_INET6)
            echo6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            echo6.bind(("::1", 0))
            echo6.listen(16)
        except OSError:
            echo6 = None
            break
        try:
            shadow = socket.socket()
            shadow.bind((lo, echo6.getsockname()[1]))
            port6 = echo6.getsockname()[1]
            break
        except OSError:
            echo6.close()
            echo6 = None

    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d %d\n" % (echo_l.getsockname()[1], stuck.getsockname()[1],
                                   closed.getsockname()[1], port6))
    os.rename(tmp, sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=serve, args=(echo_l,), daemon=True).start()
    if echo6 is not None:
        threading.Thread(target=serve, args=(echo6,), daemon=True).start()
    signal.pause()
    del filler, shadow


if __name__ == "__main__":
    main()
