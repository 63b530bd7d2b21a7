#!/usr/bin/env python3
"""fake_device.py - a device for the tests of pushing releases from a
Studio (docs/upgrades.md, "Pushing a release from Studio"), written
independently of the C code: its own Ed25519 key registered through the
API, the link's WebSocket over TLS by hand (raw frames, linkproto.py's
envelopes), admin's messages encoded and decoded from protobuf's wire
format, and the blob route's ranged GETs over its own TLS connections.

As a module: Studio (the API), Device (a link), blob_get() (one GET).
As a program, a device that carries out upgrades until it is killed:

  fake_device.py serve --data DIR --name NAME [--fail MESSAGE] [--ready FILE]
      registers NAME with the Studio whose runtime file is DIR/studio.run,
      links, and answers each Upgrade: fetches the blobs with ranged GETs
      (two halves each), checks their SHA-256, reports progress
      (checking, fetching, verifying, switching) and a result (0, or
      status 3 (unauthorized) with MESSAGE when --fail is given). Writes the device id
      to FILE once linked.
"""
import argparse
import hashlib
import http.client
import json
import os
import select
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import linkproto as lp  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402


# ---- protobuf, by hand ----

def msg(d):
    """A message's fields as {number: [values]}."""
    out = {}
    for num, _, v in lp.fields(d):
        out.setdefault(num, []).append(v)
    return out


def decode_command(admin_down):
    """An AdminDown's Command as a dict, or None: id, kind, and for an
    upgrade image_sig, blobs [(sha256, size)], release, system."""
    down = msg(admin_down)
    if 2 not in down:
        return None
    c = msg(down[2][0])
    out = {"id": c.get(1, [0])[0], "kind": None}
    if 11 in c:
        u = msg(c[11][0])
        blobs = []
        for b in u.get(2, []):
            bm = msg(b)
            blobs.append((bm.get(1, [b""])[0].decode(), bm.get(2, [0])[0]))
        out.update(kind="upgrade", image_sig=u.get(1, [b""])[0].decode(), blobs=blobs,
                   release=u.get(3, [0])[0], system=u.get(4, [b""])[0].decode())
    elif 3 in c:
        out["kind"] = "reboot"
    return out


def progress(command, stage, done, total, blobs):
    p = (lp.field(1, 0, command) + lp.field(2, 2, stage.encode()) + lp.field(3, 0, done) +
         lp.field(4, 0, total) + lp.field(5, 0, blobs))
    return lp.field(4, 2, p)


def result(command, status, message):
    r = lp.field(1, 0, command) + lp.field(2, 0, status) + lp.field(3, 2, message.encode())
    return lp.field(3, 2, r)


# ---- the Studio's API ----

class Studio:
    def __init__(self, data_dir):
        rt = {}
        with open(os.path.join(data_dir, "studio.run")) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    k, v = line.split(" ", 1)
                    rt[k] = v.strip()
        self.secret = rt["secret"]
        self.port = int(rt["url"].rstrip("/").rsplit(":", 1)[1])
        self.device_port = int(rt["device"].rsplit(":", 1)[1])
        self.pid = int(rt["pid"])

    def request(self, method, path, body=None, ctype="application/json", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Host": "127.0.0.1:%d" % self.port, "Authorization": "Bearer " + self.secret}
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        j = None
        if r.getheader("Content-Type", "").startswith("application/json") and data:
            j = json.loads(data)
        return r.status, j

    def register(self, name, folder):
        """A new key registered as NAME: (id, cert path, key path, CA path)."""
        key = ed25519.Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        st, j = self.request("POST", "/api/devices", {"public_key": pub.decode(), "name": name})
        if st != 201:
            raise RuntimeError("registering %s: %d %s" % (name, st, j))
        os.makedirs(folder, exist_ok=True)
        paths = [os.path.join(folder, n) for n in ("identity.crt", "identity.key", "ca.crt")]
        with open(paths[0], "w") as f:
            f.write(j["certificate"])
        with open(paths[1], "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(paths[2], "w") as f:
            f.write(j["server_ca"])
        return (j["id"], *paths)

    def events(self, device, on_event, ready):
        """Reads /api/events?device=ID, calling on_event(type, data)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port)
        c.request("GET", "/api/events?device=" + device,
                  headers={"Host": "127.0.0.1:%d" % self.port,
                           "Authorization": "Bearer " + self.secret})
        r = c.getresponse()
        ready.set()
        event = None
        while True:
            line = r.readline()
            if not line:
                return
            line = line.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                on_event(event, json.loads(line[6:]))


# ---- TLS to the device port ----

def tls(port, cert, key, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


class Device:
    """A device's link: Hello exchanged; admin messages from the server
    gathered in self.commands (decoded), sent with send_admin()."""

    def __init__(self, port, cert, key, ca):
        self.t = tls(port, cert, key, ca)
        self.buf = b""
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.commands = []
        self.closed = False
        self.t.sendall(b"GET /kos/link/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kos-link.1\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError("upgrade refused: %r" % head[:200])
        self.send_env(lp.hello(window=65536, agent="fake-device"))
        op, p = lp.read_frame(self.read)
        if "hello" not in lp.decode(p):
            raise RuntimeError("no Hello from the server")
        self.thread = threading.Thread(target=self.reader, daemon=True)
        self.thread.start()

    def more(self):
        """Reads what the server sent next. One TLS connection may not be
        read and written at once by two threads (OpenSSL's SSL object is
        not thread-safe, and Python lets go of the GIL inside it): each recv
        and each send holds self.lock, and the reader waits for input
        outside it."""
        while True:
            if not self.t.pending():
                select.select([self.t], [], [], 0.5)
            with self.lock:
                self.t.settimeout(0)
                try:
                    got = self.t.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue  # not a whole record yet: wait again, without the lock
                finally:
                    self.t.settimeout(None)
            if not got:
                raise ConnectionError("the server closed the link")
            self.buf += got
            return

    def read(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_env(self, env):
        with self.lock:
            self.t.sendall(lp.frame(env, masked=True))

    def send_admin(self, payload):
        self.send_env(lp.data(lp.CHANNEL_ADMIN, payload))

    def reader(self):
        try:
            while True:
                op, p = lp.read_frame(self.read)
                if op == 9:  # a ping: pong
                    with self.lock:
                        self.t.sendall(lp.frame(p, masked=True, op=10))
                    continue
                if op != 2:
                    break
                env = lp.decode(p)
                if env.get("channel") == lp.CHANNEL_ADMIN and "data" in env:
                    self.send_env(lp.credit(lp.CHANNEL_ADMIN, len(env["data"])))
                    cmd = decode_command(env["data"])
                    if cmd:
                        with self.cond:
                            self.commands.append(cmd)
                            self.cond.notify_all()
        except (OSError, ConnectionError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def next_command(self, timeout=30):
        with self.cond:
            if not self.cond.wait_for(lambda: self.commands or self.closed, timeout):
                raise RuntimeError("no command within %d s" % timeout)
            if not self.commands:
                raise RuntimeError("the link ended")
            return self.commands.pop(0)

    def close(self):
        """Ends the link. The reader thread is stopped before the socket is
        closed: a thread still in recv() on a closed descriptor would read
        from whatever socket is given its number next."""
        try:
            self.t.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(30)
        self.t.close()


# ---- the blob route ----

def read_answer(t, buf=b""):
    """Reads one HTTP answer from TLS socket t: (status, headers, body,
    the bytes after it)."""
    while b"\r\n\r\n" not in buf:
        got = t.recv(65536)
        if not got:
            raise ConnectionError("closed before an answer (%r)" % buf[:100])
        buf += got
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers["content-length"])
    while len(buf) < n:
        got = t.recv(1 << 20)
        if not got:
            raise ConnectionError("closed within a body")
        buf += got
    return status, headers, buf[:n], buf[n:]


def blob_get(port, cert, key, ca, sha, rng=None, close=True, t=None, extra=b""):
    """One GET of blob sha on its own connection (or t): (status, headers,
    body)."""
    own = t is None
    if own:
        t = tls(port, cert, key, ca)
    req = b"GET /kos/blobs/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % sha.encode()
    if rng:
        req += b"Range: %s\r\n" % rng.encode()
    if close:
        req += b"Connection: close\r\n"
    t.sendall(req + extra + b"\r\n")
    status, headers, body, _ = read_answer(t)
    if own:
        t.close()
    return status, headers, body


# ---- a device that carries out upgrades ----

def serve(a):
    studio = Studio(a.data)
    folder = os.path.join(a.data, "..", "fake-" + a.name)
    dev_id, cert, key, ca = studio.register(a.name, folder)
    d = Device(studio.device_port, cert, key, ca)
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write(dev_id + "\n")
        os.rename(a.ready + ".tmp", a.ready)
    while True:
        cmd = d.next_command(timeout=3600)
        if cmd["kind"] != "upgrade":
            d.send_admin(result(cmd["id"], 0, "done"))
            continue
        total = sum(size for _, size in cmd["blobs"])
        d.send_admin(progress(cmd["id"], "checking", 0, total, len(cmd["blobs"])))
        done = 0
        ok = True
        for sha, size in cmd["blobs"]:
            half = size // 2
            body = b""
            if half:
                st, _, body = blob_get(studio.device_port, cert, key, ca, sha, "bytes=0-%d" % (half - 1))
                ok = ok and st == 206
            st, _, rest = blob_get(studio.device_port, cert, key, ca, sha,
                                   "bytes=%d-" % half if size else None)
            ok = ok and st in (200, 206)
            body += rest
            ok = ok and hashlib.sha256(body).hexdigest() == sha and len(body) == size
            done += len(body)
            d.send_admin(progress(cmd["id"], "fetching", done, total, len(cmd["blobs"])))
        d.send_admin(progress(cmd["id"], "verifying", done, total, len(cmd["blobs"])))
        d.send_admin(progress(cmd["id"], "switching", done, total, len(cmd["blobs"])))
        if not ok:
            d.send_admin(result(cmd["id"], 11, "a blob did not come whole"))
        elif a.fail:
            d.send_admin(result(cmd["id"], 3, a.fail))
        else:
            d.send_admin(result(cmd["id"], 0, "release %d stored; rebooting" % cmd["release"]))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--data", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--fail")
    s.add_argument("--ready")
    a = p.parse_args()
    serve(a)


if __name__ == "__main__":
    main()
