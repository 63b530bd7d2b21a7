#!/usr/bin/env python3
"""link_seeds.py OUTDIR - writes the seed inputs of the `link` fuzz target
(fuzz_link.c): good exchanges of each end of the device link and the
protocol violations the unit tests make, each as the selector byte and the
bytes the peer sends. The envelopes are encoded by hand (protobuf's wire
format) by tests/server/linkproto.py, which the test servers use too."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQ = ("GET /kos/link/1 HTTP/1.1\r\nHost: 127.0.0.1:7443\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n" % KEY).encode()
RESP = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: kos-link.1\r\n\r\n")
ID = "0123456789abcdef" * 4


from linkproto import close as _close, credit, data, field, frame as _frame, hello, open_  # noqa: E402


def close(code=0, reason=b"bye"):
    return _close(code, reason.decode())


def frame(payload, masked, op=2, fin=True):
    return _frame(payload, masked, op=op, fin=fin)


def main(out):
    os.makedirs(out, exist_ok=True)
    dev = lambda *envs, raw=b"": REQ + b"".join(frame(e, True) for e in envs) + raw
    srv = lambda *envs, raw=b"": RESP + b"".join(frame(e, False) for e in envs) + raw
    seeds = {
        # a server reading a device (selector 0: one byte at a time; 0xf0: all at once)
        "server-good": (0xF0, dev(hello(), data(1, b"register"), data(2, b"logs"), credit(1, 100), close())),
        "server-good-bytewise": (0x00, dev(hello(), data(1, b"x" * 300))),
        "server-ping": (0x80, dev(hello(), raw=frame(b"", True, op=9) + frame(b"", True, op=10))),
        "server-text": (0xF0, dev(hello(), raw=frame(b"hi", True, op=1))),
        "server-unmasked": (0xF0, dev(hello(), raw=frame(data(1, b"x"), False))),
        "server-fragment": (0xF0, dev(hello(), raw=frame(data(1, b"x"), True, fin=False))),
        "server-ctl-fragment": (0xF0, dev(hello(), raw=frame(b"", True, op=9, fin=False))),
        "server-opcode": (0xF0, dev(hello(), raw=frame(b"?", True, op=5))),
        "server-huge": (0xF0, dev(hello(), raw=b"\x82\xff" + struct.pack(">Q", 1 << 40) + b"\0\0\0\0")),
        "server-toobig": (0xF0, dev(hello(), raw=frame(data(1, b"x" * 65540), True))),
        "server-nohello": (0xF0, dev(data(1, b"x"))),
        "server-version": (0xF0, dev(hello(version=2))),
        "server-window": (0xF0, dev(hello(window=100))),
        "server-credit": (0xF0, dev(hello(), data(1, b"x" * 3000), data(1, b"x" * 3000))),
        "server-malformed": (0xF0, dev(hello(), raw=frame(b"\xff\xff\xff", True))),
        "server-unknown-body": (0xF0, dev(hello(), raw=frame(b"\x08\x01\x4a\x00", True))),
        "server-channel9": (0xF0, dev(hello(), data(9, b"x"))),
        "server-open": (0xF0, dev(hello(), field(1, 0, 16) + field(5, 2, field(1, 2, b"tcp:x:1")))),
        "server-close-frame": (0xF0, dev(hello(), raw=frame(struct.pack(">H", 1000) + b"bye", True, op=8))),
        "server-404": (0xF0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "server-400": (0xF0, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        "server-bad-key": (0xF0, REQ.replace(KEY.encode(), b"c2hvcnQ=")),
        # a client reading a server (selector 1)
        "client-good": (0xF1, srv(hello(device_id=ID), data(1, b"registered"), credit(2, 8192), close())),
        "client-good-bytewise": (0x01, srv(hello(device_id=ID), data(1, b"y" * 200))),
        "client-403": (0xF1, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        "client-bad-accept": (0xF1, RESP.replace(b"s3pP", b"AAAA")),
        "client-masked": (0xF1, RESP + frame(hello(device_id=ID), True)),
        "client-bad-id": (0xF1, srv(hello(device_id="not hex!"))),
        "client-credit-overflow": (0xF1, srv(hello(device_id=ID), credit(1, (1 << 64) - 1), credit(1, 5))),
        "client-data-beyond": (0xF1, srv(hello(device_id=ID), data(1, b"z" * 4000), data(1, b"z" * 4000))),
        # streams (docs/link.md, "Streams"): a server accepts "b..." and refuses "a..."
        "server-stream": (0xF0, dev(hello(), open_(16, "bulk"), data(16, b"s" * 500), credit(16, 100),
                                    _close(0, "done", ch=16), open_(17, "away"), open_(18, "bulk"))),
        "server-stream-many": (0xF0, dev(hello(), *[open_(20 + i, "bulk") for i in range(10)])),
        "server-stream-low": (0xF0, dev(hello(), open_(3, "bulk"))),
        "server-stream-unopened": (0xF0, dev(hello(), data(40, b"x"))),
        "server-stream-twice": (0xF0, dev(hello(), open_(16, "bulk"), open_(16, "bulk"))),
        "server-stream-beyond": (0xF0, dev(hello(), open_(16, "bulk"), data(16, b"q" * 3000), data(16, b"q" * 3000))),
        "client-stream": (0xF1, srv(hello(device_id=ID), open_(16, "", app="", window=4096),
                                    data(16, b"back"), credit(16, 5), _close(0, "", ch=16))),
        "client-stream-refused": (0xF1, srv(hello(device_id=ID), _close(2, "no destination", ch=16))),
        # a blob's answer (read as one by blob_answer(); the selector's bits 1-3 pick from)
        "blob-206": (0x03, b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-1099/5000\r\n"
                           b"Content-Length: 1000\r\n\r\n"),
        "blob-200": (0x01, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        "blob-chunked": (0x03, b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-1099/5000\r\n"
                               b"Content-Length: 1000\r\nTransfer-Encoding: chunked\r\n\r\n"),
        "blob-404": (0x01, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    }
    for i, (name, (sel, body)) in enumerate(seeds.items()):
        with open(os.path.join(out, "%03d-%s" % (i, name)), "wb") as f:
            f.write(bytes([sel]) + body)


if __name__ == "__main__":
    main(sys.argv[1])
