#!/usr/bin/env python3
"""link_server.py - a test server for the tunnel, written with
python3-websockets and Python's ssl (TLS 1.3, client certificates verified
against the device CA): an independent implementation of the server end of
docs/link.md. It prints what it sees, one line each, flushed.

  link_server.py MODE PORT CERT KEY CA PORTFILE

MODE:
  good      Hello with the device id (the SHA-256 of the client
            certificate's key), answers each admin message with "echo: ",
            gives credit back
  refuse    answers the upgrade with HTTP 403
  text      after the Hellos, a text frame                (device: 1003)
  huge      a frame header claiming 2^40 bytes            (device: 1009)
  masked    a masked frame                                (device: 1002)
  garbage   a binary frame that is no envelope            (device: 1002)
  nocredit  data on traces beyond the device's window     (device: 1008)
  silent    the Hello, then nothing, never a pong needed  (no check)
  shell     once the device's admin has sent its first message, a script of
            ShellDown messages on the shell channel (SHELL_SCRIPT below:
            good lines, hostile ones, a message that is none, one longer
            than the tunnel hands an app at once, a burst); prints each
            ShellUp as "shell ID STATUS done|part LINE | LINE ..."
  debug     likewise a script of DebugDown messages on the debug channel
            (proto/debug.proto): a message that is none, data for no
            session, opens of a bad name, an unknown app, an app not marked
            debug: true, then one of rng_server (marked debug: true); once
            open, a second open, gdb's "$?#3f" packet, a close; then a
            message longer than the tunnel hands an app at once and a
            burst of 40 opens of nothing. Prints each DebugUp as
            "debug opened|closed STATUS MESSAGE" or "debug data N BYTES"
"""
import asyncio
import hashlib
import http
import os
import ssl
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
import linkproto as lp  # noqa: E402

import websockets  # noqa: E402

def shell_down(i, line):
    return lp.field(1, 0, i) + lp.field(2, 2, line)


# What the shell mode sends, in order (proto/shell.proto).
SHELL_SCRIPT = [
    shell_down(1, b"apps"),
    shell_down(2, b"apps \xff\xfe"),                   # not UTF-8
    shell_down(3, b"apps\x1b[2J"),                     # a control character
    shell_down(4, b"logs " + b"a" * 300),               # too long
    b"\xff\xff\xff",                                     # no ShellDown: id 0
    shell_down(5, b"restart rng_server"),
    shell_down(6, b"z" * 5000),                         # comes to admin in pieces
] + [shell_down(100 + i, b"help") for i in range(40)] + [  # a burst, answered in order
    shell_down(7, b"dir"),
]


def shell_up(b):
    """A ShellUp as (id, lines, done, status)."""
    i, lines, done, status = 0, [], False, 0
    for num, _, v in lp.fields(b):
        if num == 1:
            i = v
        elif num == 2:
            lines.append(v.decode())  # escaped text: always UTF-8
        elif num == 3:
            done = bool(v)
        elif num == 4:
            status = v
    return i, lines, done, status


def debug_open(app):
    return lp.field(1, 2, lp.field(1, 2, app))


DEBUG_CLOSE = lp.field(3, 2, b"")


def debug_data(b):
    return lp.field(2, 2, b)


# What the debug mode sends before, and after, the session on rng_server.
# Each with whether an answer comes, which is waited for before the next.
DEBUG_BEFORE = [
    (b"\xff\xff\xff", True),             # no DebugDown
    (debug_data(b"$g#67"), False),       # data for no session: dropped
    (debug_open(b"../x"), True),         # not a name
    (debug_open(b"nosuch"), True),       # no such app
    (debug_open(b"log_server"), True),   # not marked debug: true
    (debug_open(b"rng_server"), True),   # marked debug: true
]
DEBUG_AFTER = [lp.field(2, 2, b"z" * 5000)] + [debug_open(b"") for _ in range(40)]


def debug_up(b):
    """A DebugUp as (kind, status, message or data)."""
    for num, _, v in lp.fields(b):
        if num == 2:
            return "data", 0, v
        status, msg = 0, ""
        for n2, _, v2 in lp.fields(v):
            if n2 == 1:
                status = v2
            elif n2 == 2:
                msg = v2.decode()
        return "opened" if num == 1 else "closed", status, msg
    return "none", 0, ""


# An Ed25519 SubjectPublicKeyInfo's fixed prefix; the raw key follows.
ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")


def out(*a):
    print(*a, flush=True)


def device_id(ws):
    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    i = der.find(ED25519_SPKI)
    return hashlib.sha256(der[i + len(ED25519_SPKI):i + len(ED25519_SPKI) + 32]).hexdigest()


async def handler(ws, mode):
    dev = device_id(ws)
    out("connected %s" % dev)
    first = lp.decode(await ws.recv())
    h = first.get("hello")
    if not h:
        out("no hello first")
        return
    out("hello agent=%s window=%d version=%d" % (h["agent"], h["window"], h["version"]))
    window = h["window"]
    await ws.send(lp.hello(window=65536, agent="python-link-server", device_id=dev))
    if mode == "text":
        await ws.send("not binary")
    elif mode == "huge":
        ws.transport.write(b"\x82\x7f" + struct.pack(">Q", 1 << 40))
    elif mode == "masked":
        ws.transport.write(lp.frame(lp.data(1, b"x"), True))
    elif mode == "garbage":
        await ws.send(b"\xff\xff\xff\xff")
    elif mode == "nocredit":
        # on traces, which no app of the test takes: nothing is credited back
        for _ in range(window // 1000 + 2):
            await ws.send(lp.data(3, b"n" * 1000))
    admin_heard = asyncio.Event()
    if mode == "shell":
        async def script():
            await admin_heard.wait()
            for m in SHELL_SCRIPT:
                await ws.send(lp.data(4, m))
            out("shell script sent")
        asyncio.ensure_future(script())
    debug_open_ok = asyncio.Event()
    debug_data_in = asyncio.Event()
    debug_answers = asyncio.Queue()
    if mode == "debug":
        async def dscript():
            await admin_heard.wait()
            try:
                for m, answered in DEBUG_BEFORE[:-1]:
                    await ws.send(lp.data(5, m))
                    if answered:
                        await asyncio.wait_for(debug_answers.get(), 30)
                # The open of rng_server: an answer the queue holds early (one
                # that came late for an earlier message) cannot stand in for
                # its own, which is an "opened" after it was sent.
                while not debug_answers.empty():
                    debug_answers.get_nowait()
                await ws.send(lp.data(5, DEBUG_BEFORE[-1][0]))
                while await asyncio.wait_for(debug_answers.get(), 30) != "opened":
                    pass
                if debug_open_ok.is_set():  # the last open was answered: open, or refused
                    await ws.send(lp.data(5, debug_open(b"rng_server")))  # one at a time
                    await ws.send(lp.data(5, debug_data(b"$?#3f")))
                    await asyncio.wait_for(debug_data_in.wait(), 30)
                else:
                    out("debug: no session")
            except asyncio.TimeoutError:
                out("debug: no session")
            await ws.send(lp.data(5, DEBUG_CLOSE))
            for m in DEBUG_AFTER:
                await ws.send(lp.data(5, m))
            out("debug script sent")
        asyncio.ensure_future(dscript())
    try:
        async for msg in ws:
            if isinstance(msg, str):
                out("text frame from the device")
                continue
            env = lp.decode(msg)
            if "data" in env:
                out("data %d %d %s" % (env["channel"], len(env["data"]),
                                       env["data"][:64].decode(errors="replace")))
                if mode == "good" and env["channel"] == 1:
                    await ws.send(lp.data(1, b"echo: " + env["data"]))
                if env["channel"] == 1:
                    admin_heard.set()
                if env["channel"] == 5:
                    kind, status, what = debug_up(env["data"])
                    if kind == "data":
                        out("debug data %d %s" % (len(what), what[:32].decode(errors="replace")))
                        # gdbserver's ack ("+") and its answer may come in
                        # separate messages: the answer is what is waited for.
                        if b"$" in what:
                            debug_data_in.set()
                    else:
                        out("debug %s %d %s" % (kind, status, what))
                        debug_answers.put_nowait(kind)
                        if kind == "opened" and status == 0:
                            debug_open_ok.set()
                if env["channel"] == 4:
                    i, lines, done, status = shell_up(env["data"])
                    out("shell %d %d %s %s" % (i, status, "done" if done else "part",
                                                " | ".join(lines)))
                await ws.send(lp.credit(env["channel"], len(env["data"])))
            elif "close" in env:
                out("close %d %s" % (env["close"]["code"], env["close"]["reason"]))
    except websockets.ConnectionClosed as e:
        out("closed %s %s" % (e.code, e.reason))


async def main(mode, port, cert, key, ca, portfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED

    async def process_request(path, headers):
        out("request %s" % path)
        if path != "/kos/link/1":
            return (http.HTTPStatus.NOT_FOUND, [], b"")
        if mode == "refuse":
            out("refused")
            return (http.HTTPStatus.FORBIDDEN, [], b"")
        return None

    server = await websockets.serve(lambda ws, path: handler(ws, mode), "127.0.0.1", port,
                                    ssl=ctx, subprotocols=["kos-link.1"], max_size=65536,
                                    compression=None, process_request=process_request,
                                    ping_interval=None)
    port = server.sockets[0].getsockname()[1]
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    out("listening %d %s" % (port, mode))
    await asyncio.Future()


if __name__ == "__main__":
    mode, port, cert, key, ca, portfile = sys.argv[1:7]
    try:
        asyncio.run(main(mode, int(port), cert, key, ca, portfile))
    except KeyboardInterrupt:
        pass
