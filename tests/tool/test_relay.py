#!/usr/bin/env python3
"""kos-tool toolbox.relay (tool/relay.c), as QEMU's guestfwd runs it for each
of a device's connections to Studio: standard input and output joined to a
loopback TCP port, byte for byte both ways, each direction's end passed on;
two relays at once are two connections; nothing else on standard output or
error; an address off the loopback and a port nobody listens on refused.
Usage: test_relay.py KOS_TOOL"""
import os
import socket
import subprocess
import sys
import threading

TOOL = sys.argv[1]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]
seen = []


def serve():
    # Each connection: read to its end, then answer its bytes reversed.
    for _ in range(2):
        c, _ = srv.accept()
        seen.append(c)
        threading.Thread(target=answer, args=(c,)).start()


def answer(c):
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    c.sendall(data[::-1])
    c.close()


threading.Thread(target=serve, daemon=True).start()
datas = [os.urandom(700000), os.urandom(123457)]
procs = [subprocess.Popen([TOOL, "toolbox.relay", "127.0.0.1:%d" % port], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in datas]
outs = [None, None]


def run(i):
    outs[i] = procs[i].communicate(datas[i], timeout=60)


ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for i, (out, err) in enumerate(outs):
    if procs[i].returncode != 0:
        fail("relay %d: exit status %d" % (i, procs[i].returncode))
    if out != datas[i][::-1]:
        fail("relay %d: %d bytes back, not its %d reversed" % (i, len(out), len(datas[i])))
    if err:
        fail("relay %d wrote on standard error: %r" % (i, err[:200]))
if len(seen) != 2:
    fail("%d connections for two relays" % len(seen))

for addr, want in (("10.0.2.100:80", "is not a loopback address"), ("127.0.0.1", "127.0.0.1:PORT"),
                   ("127.0.0.1:99999", "port")):
    p = subprocess.run([TOOL, "toolbox.relay", addr], capture_output=True, text=True)
    if p.returncode != 2 or want not in p.stderr:
        fail("%s: exit %d, said %r" % (addr, p.returncode, p.stderr))
# A port nobody listens on: 1, and nothing said (the guest would read it).
s = socket.socket()
s.bind(("127.0.0.1", 0))
free = s.getsockname()[1]
s.close()
p = subprocess.run([TOOL, "toolbox.relay", "127.0.0.1:%d" % free], capture_output=True)
if p.returncode != 1 or p.stdout or p.stderr:
    fail("a closed port: exit %d, out %r, err %r" % (p.returncode, p.stdout, p.stderr))
print("PASS")
