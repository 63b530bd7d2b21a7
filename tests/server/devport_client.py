#!/usr/bin/env python3
"""devport_client.py - an independent client of the device port (and of any
link server), for the tests: python3-websockets for the good path, raw TLS
sockets for the bad ones. One case per run; it prints what happened, one
line each, and exits 0 when the case went as the server should make it go.

  good PORT CERT KEY CA [--messages N] [--no-credit] [--hold S]
      Hello, N admin messages each answered with "echo: ...", credit given
      back (unless --no-credit), then Close. Prints "hello device_id=ID",
      "echo N ok", "closed CODE".
  refused PORT CERT KEY CA [--tls12] [--no-cert]
      the handshake or the first read must fail: prints "refused: WHY"
  plain PORT      plain HTTP on the TLS port: prints "dropped" when the
                  server closes the connection
  silent PORT     a TCP connection that sends nothing: prints "dropped"
  raw PORT CERT KEY CA CASE   after Hello, CASE in text, huge, unmasked,
      fragment, beyond-credit, before-hello: prints "close CODE"
  streams PORT CERT KEY CA
      forwarded streams (docs/link.md, "Streams") to the destinations the
      server was given as echo, closed (nobody listens) and none other:
      prints "echo ok" (a stream opened, bytes echoed, closed both ways),
      "refused CH CODE REASON" for nowhere and closed, "busy after N" when
      the server refuses a stream beyond its bound, "streams ok"
  stream-bad PORT CERT KEY CA CASE   an Open the server must end the link
      for: CASE low-channel, bad-window, no-destination, twice,
      data-unopened, credit-unopened, close-unopened: prints "closed CODE"
"""
import asyncio
import socket
import ssl
import sys

import linkproto as lp


def tls_ctx(cert, key, ca, tls12=False, no_cert=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if not no_cert:
        ctx.load_cert_chain(cert, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def good(port, cert, key, ca, messages, no_credit, hold):
    import websockets

    ctx = tls_ctx(cert, key, ca)
    async with websockets.connect("wss://127.0.0.1:%d/kos/link/1" % port, ssl=ctx,
                                  subprotocols=["kos-link.1"], max_size=65536,
                                  compression=None, open_timeout=10) as ws:
        await ws.send(lp.hello(window=4096))
        h = lp.decode(await ws.recv())
        assert "hello" in h, h
        print("hello device_id=%s window=%d" % (h["hello"]["device_id"], h["hello"]["window"]),
              flush=True)
        for i in range(messages):
            await ws.send(lp.data(lp.CHANNEL_ADMIN, b"message %d" % i))
            while True:
                env = lp.decode(await ws.recv())
                if "data" in env:
                    break
            assert env["data"] == b"echo: message %d" % i, env
            if not no_credit:
                await ws.send(lp.credit(env["channel"], len(env["data"])))
        print("echo %d ok" % messages, flush=True)
        if hold:
            got = 0
            try:
                while True:
                    env = lp.decode(await asyncio.wait_for(ws.recv(), hold))
                    got += len(env.get("data", b""))
            except asyncio.TimeoutError:
                pass
            except websockets.ConnectionClosed as e:
                print("closed %s" % e.code, flush=True)
                return
            print("held: %d bytes received without credit" % got, flush=True)
        await ws.send(lp.close(0, "test done"))
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            print("closed %s" % e.code, flush=True)


def refused(port, cert, key, ca, tls12, no_cert):
    ctx = tls_ctx(cert, key, ca, tls12, no_cert)
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                            server_hostname="127.0.0.1")
        # TLS 1.3: the server checks the client's certificate after the
        # client's handshake is done, so its verdict comes with the first read.
        s.sendall(b"GET /kos/link/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = s.recv(100)
        print("not refused: %r" % got)
        return 1
    except (ssl.SSLError, ConnectionError, OSError) as e:
        print("refused: %s" % e, flush=True)
        return 0


def dropped(port, payload):
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.settimeout(60)
    if payload:
        s.sendall(payload)
    try:
        while s.recv(4096):
            pass
    except ConnectionError:
        pass
    print("dropped", flush=True)
    return 0


class Raw:
    def __init__(self, port, cert, key, ca):
        ctx = tls_ctx(cert, key, ca)
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                                 server_hostname="127.0.0.1")
        self.s.settimeout(30)
        self.buf = b""
        self.s.sendall(b"GET /kos/link/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kos-link.1\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def more(self):
        b = self.s.recv(65536)
        if not b:
            raise ConnectionError("closed")
        self.buf += b

    def read(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close_code(self):
        """Reads frames until a close frame; returns its code."""
        while True:
            op, p = lp.read_frame(self.read)
            if op == 8:
                return int.from_bytes(p[:2], "big") if len(p) >= 2 else 1005


def raw(port, cert, key, ca, case):
    r = Raw(port, cert, key, ca)
    if case != "before-hello":
        r.s.sendall(lp.frame(lp.hello(window=4096), True))
    if case == "text":
        r.s.sendall(lp.frame(b"hello", True, op=1))
    elif case == "huge":
        r.s.sendall(lp.frame(b"", True, length=1 << 40))
    elif case == "unmasked":
        r.s.sendall(lp.frame(lp.data(1, b"x"), False))
    elif case == "fragment":
        r.s.sendall(lp.frame(lp.data(1, b"x"), True, fin=False))
    elif case == "beyond-credit":
        # one message longer than the port's window (4096 in the test)
        r.s.sendall(lp.frame(lp.data(3, b"t" * 5000), True))
    elif case == "before-hello":
        r.s.sendall(lp.frame(lp.data(1, b"x"), True))
    print("close %d" % r.close_code(), flush=True)
    return 0


async def hello_ws(port, cert, key, ca):
    import websockets

    ws = await websockets.connect("wss://127.0.0.1:%d/kos/link/1" % port,
                                  ssl=tls_ctx(cert, key, ca), subprotocols=["kos-link.1"],
                                  max_size=65536, compression=None, open_timeout=10)
    await ws.send(lp.hello(window=65536))
    h = lp.decode(await ws.recv())
    assert "hello" in h, h
    return ws


async def next_on(ws, ch):
    """The next envelope on channel ch (others, Credit on 0, are skipped)."""
    while True:
        env = lp.decode(await asyncio.wait_for(ws.recv(), 30))
        if env["channel"] == ch and "credit" not in env:
            return env


async def streams(port, cert, key, ca):
    ws = await hello_ws(port, cert, key, ca)
    # A stream to echo: accepted with an Open, bytes back, Close answered.
    await ws.send(lp.open_(16, "echo"))
    env = await next_on(ws, 16)
    assert "open" in env, env
    want = b"".join(b"%06d" % i for i in range(2000))  # 12000 bytes
    got = b""
    for i in range(0, len(want), 1000):  # each piece back before the next: within credit
        await ws.send(lp.data(16, want[i:i + 1000]))
        while len(got) < i + 1000:
            env = await next_on(ws, 16)
            assert "data" in env, env
            got += env["data"]
            await ws.send(lp.credit(16, len(env["data"])))
    assert got == want, (len(got), len(want))
    await ws.send(lp.close(0, "done", ch=16))
    env = await next_on(ws, 16)
    assert "close" in env and env["close"]["code"] == 0, env
    print("echo ok", flush=True)
    # Refusals: a name the server does not know, a port nobody listens on.
    for ch, dest in ((17, "nowhere"), (18, "closed")):
        await ws.send(lp.open_(ch, dest))
        env = await next_on(ws, ch)
        assert "close" in env, env
        print("refused %d %d %s" % (ch, env["close"]["code"], env["close"]["reason"]), flush=True)
    # The bound: streams beyond it are refused, the others stay open.
    n = 0
    for ch in range(100, 120):
        await ws.send(lp.open_(ch, "echo"))
        env = await next_on(ws, ch)
        if "close" in env:
            print("busy after %d: %d %s" % (n, env["close"]["code"], env["close"]["reason"]),
                  flush=True)
            break
        n += 1
    for ch in range(100, 100 + n):
        await ws.send(lp.close(0, "", ch=ch))
        env = await next_on(ws, ch)
        assert "close" in env, env
    # After they closed, a stream opens again (the slots are free).
    await ws.send(lp.open_(16, "echo"))
    env = await next_on(ws, 16)
    assert "open" in env, env
    print("streams ok", flush=True)
    await ws.send(lp.close(0, "test done"))
    await ws.close()
    return 0


async def stream_bad(port, cert, key, ca, case):
    import websockets

    ws = await hello_ws(port, cert, key, ca)
    bad = {
        "low-channel": lp.open_(3, "echo"),
        "bad-window": lp.open_(16, "echo", window=100),
        "no-destination": lp.open_(16, ""),
        "data-unopened": lp.data(40, b"x"),
        "credit-unopened": lp.credit(40, 10),
        "close-unopened": lp.close(0, "", ch=40),
    }
    if case == "twice":
        await ws.send(lp.open_(16, "echo"))
        env = await next_on(ws, 16)
        assert "open" in env, env
        msg = lp.open_(16, "echo")
    else:
        msg = bad[case]
    await ws.send(msg)
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    except websockets.ConnectionClosed as e:
        print("closed %s" % e.code, flush=True)
    return 0


def main(argv):
    case, port = argv[1], int(argv[2])
    if case == "good":
        args = argv[3:]
        n = int(args[args.index("--messages") + 1]) if "--messages" in args else 3
        hold = float(args[args.index("--hold") + 1]) if "--hold" in args else 0
        asyncio.run(good(port, args[0], args[1], args[2], n, "--no-credit" in args, hold))
        return 0
    if case == "refused":
        return refused(port, argv[3], argv[4], argv[5], "--tls12" in argv, "--no-cert" in argv)
    if case == "plain":
        return dropped(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    if case == "silent":
        return dropped(port, b"")
    if case == "streams":
        return asyncio.run(streams(port, argv[3], argv[4], argv[5]))
    if case == "stream-bad":
        return asyncio.run(stream_bad(port, argv[3], argv[4], argv[5], argv[6]))
    if case == "raw":
        return raw(port, argv[3], argv[4], argv[5], argv[6])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
