"""linkproto.py - the device link's envelopes (proto/link.proto) in plain
Python, encoded and decoded by hand from protobuf's wire format, so the
tests need no protobuf compiler and check the C end against an independent
codec. Also raw WebSocket frames, for the tests that break the protocol."""
import os
import struct

CHANNEL_LINK, CHANNEL_ADMIN, CHANNEL_LOGS = 0, 1, 2


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(num, wt, val):
    key = varint(num << 3 | wt)
    if wt == 0:
        return key + varint(val)
    return key + varint(len(val)) + val


def read_varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("a truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """Yields (number, wire type, value) of a message."""
    i = 0
    while i < len(b):
        key, i = read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            if i + n > len(b):
                raise ValueError("a truncated field")
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def hello(window=65536, agent="python-test", device_id=None, version=1):
    h = field(1, 0, version) + field(2, 2, agent.encode()) + field(3, 0, window)
    if device_id:
        h += field(4, 2, device_id.encode())
    return field(1, 0, 0) + field(2, 2, h)


def data(ch, payload):
    return field(1, 0, ch) + field(4, 2, payload)


def credit(ch, n):
    return field(1, 0, ch) + field(3, 2, field(1, 0, n))


def close(code=0, reason="", ch=0):
    return field(1, 0, ch) + field(6, 2, field(1, 0, code) + field(2, 2, reason.encode()))


def open_(ch, destination, app="python-test", window=65536):
    """An Open on stream channel ch (docs/link.md, "Streams")."""
    o = field(1, 2, destination.encode()) + field(2, 2, app.encode()) + field(3, 0, window)
    return field(1, 0, ch) + field(5, 2, o)


def decode(b):
    """An envelope as a dict: channel, and one of hello (dict), credit
    (int), data (bytes), open, close (dict)."""
    env = {"channel": 0}
    for num, wt, v in fields(b):
        if num == 1 and wt == 0:
            env["channel"] = v
        elif num == 2:
            h = {"version": 0, "agent": "", "window": 0, "device_id": ""}
            for n2, _, v2 in fields(v):
                key = {1: "version", 2: "agent", 3: "window", 4: "device_id"}.get(n2)
                if key:
                    h[key] = v2.decode() if isinstance(v2, bytes) else v2
            env["hello"] = h
        elif num == 3:
            env["credit"] = dict((n2, v2) for n2, _, v2 in fields(v)).get(1, 0)
        elif num == 4:
            env["data"] = v
        elif num == 5:
            env["open"] = v
        elif num == 6:
            c = {"code": 0, "reason": ""}
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    c["code"] = v2
                elif n2 == 2:
                    c["reason"] = v2.decode(errors="replace")
            env["close"] = c
    return env


def frame(payload, masked, op=2, fin=True, length=None):
    """A WebSocket frame; `length` lies about the payload's length."""
    b0 = (0x80 if fin else 0) | op
    n = len(payload) if length is None else length
    m = 0x80 if masked else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if masked:
        mask = os.urandom(4)
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        h += mask
    return h + payload


def read_frame(sock_read):
    """Reads one frame with sock_read(n) -> bytes; returns (opcode, payload)."""
    h = sock_read(2)
    op, n, masked = h[0] & 0x0F, h[1] & 0x7F, h[1] & 0x80
    if n == 126:
        n = struct.unpack(">H", sock_read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", sock_read(8))[0]
    mask = sock_read(4) if masked else None
    p = sock_read(n) if n else b""
    if mask:
        p = bytes(c ^ mask[i % 4] for i, c in enumerate(p))
    return op, p
