#!/usr/bin/env python3
"""Pushing a release from Studio (docs/upgrades.md; docs/link.md, "Blobs"),
against a real kos-server on loopback with devices written in Python
(fake_device.py):

- POST /api/devices/ID/upgrade: unknown device 404, offline 409, bad
  bodies (not a zip, truncated, a blob whose bytes are not its digest, no
  manifest blob, a wrong Content-Type, too large) 400/413/415 with an error
  naming what was wrong, and nothing stored; a good image answered with
  its release, its blobs stored by digest (once: a second push writes none
  again), and the Upgrade command reaching the device with image.sig and
  every blob's digest and size;
- GET /kos/blobs/<sha256> with the device's own certificate: 200, 206
  (FROM-, FROM-LAST, LAST beyond the end), 416 (FROM at the end, a suffix
  range, two ranges), 404 (unknown, or offered to another device), 400 (a
  malformed path, a body, another method), the exact bytes and headers,
  keep-alive then a second request, Connection: close honoured, a revoked
  device refused in the handshake, and a client that never reads costing
  the server a bounded amount while it serves others;
- UpgradeProgress and CommandResult from the device: `upgrade` and
  `result` events, and GET /api/devices/ID's "upgrade" with the stage,
  the result and the bytes the blob route served.

Environment: KOS_TOOL, KOS_IMAGE (a built system image), KOS_KEY (the
release key, to build one with a big binary). Starts its own
Studio on free ports in a scratch folder and stops it at the end.
"""
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_device as fd  # noqa: E402

TOOL = os.environ["KOS_TOOL"]
IMAGE = os.environ["KOS_IMAGE"]
WORK = tempfile.mkdtemp(prefix="kos-test-studio-upgrade.")
# Under AddressSanitizer, freed memory is held in quarantine and would
# count as the server's growth: none is held, so the memory bound is
# measured there too.
ENV = dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, "xdg"),
           ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0"])))
DATA = os.path.join(WORK, "xdg", "kos", "studio")
BLOBS = os.path.join(DATA, "blobs")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def tool(*args):
    return subprocess.run([TOOL, *args], env=ENV, capture_output=True, text=True)


def zip_bytes(entries):
    """A zip of (name, bytes) entries, deflated."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return b.getvalue()


def image_entries():
    with zipfile.ZipFile(IMAGE) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def stored():
    return sorted(os.listdir(BLOBS)) if os.path.isdir(BLOBS) else []


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def push(studio, dev, body, ctype="application/zip"):
    return studio.request("POST", "/api/devices/%s/upgrade" % dev, body, ctype)


def expect_error(got, status, words, what):
    st, j = got
    ok = st == status and isinstance(j, dict) and words in j.get("error", "")
    check(ok, "%s: expected %d with '%s', got %d %s" % (what, status, words, st, j))


def bad_images(studio, dev):
    entries = image_entries()
    sig = dict(entries)["image.sig"].decode()
    manifest = sig.split("manifest ")[1].split()[0] if "manifest " in sig else None
    good = open(IMAGE, "rb").read()
    blob_names = [n for n, _ in entries if n.startswith("blobs/")]
    victim = [n for n in blob_names if manifest not in n][0]
    wrong = [(n, d + b"x" if n == victim else d) for n, d in entries]
    expect_error(push(studio, dev, zip_bytes(wrong)), 400, victim, "a blob whose bytes changed")
    expect_error(push(studio, dev, zip_bytes(wrong)), 400, "has SHA-256", "a blob whose bytes changed")
    no_manifest = [(n, d) for n, d in entries if manifest not in n]
    expect_error(push(studio, dev, zip_bytes(no_manifest)), 400, "no entry blobs/" + manifest,
                 "no manifest blob")
    expect_error(push(studio, dev, b"this is not a zip at all" * 40), 400, "not a zip archive",
                 "not a zip")
    expect_error(push(studio, dev, good[:len(good) // 2]), 400, "", "a truncated zip")
    stray = b"a blob no manifest names"
    unnamed = entries + [("blobs/" + hashlib.sha256(stray).hexdigest(), stray)]
    expect_error(push(studio, dev, zip_bytes(unnamed)), 400,
                 hashlib.sha256(stray).hexdigest() + " that its manifest does not name",
                 "a blob the manifest does not name")
    extra = entries + [("notes.txt", b"hello")]
    expect_error(push(studio, dev, zip_bytes(extra)), 400, "notes.txt", "an unexpected entry")
    expect_error(push(studio, dev, good, "application/json"), 415, "application/zip",
                 "a JSON Content-Type")
    expect_error(push(studio, dev, b"", "application/zip"), 400, "empty", "an empty body")
    # The secret and the origin, as for every route.
    c = http.client.HTTPConnection("127.0.0.1", studio.port, timeout=60)
    c.request("POST", "/api/devices/%s/upgrade" % dev, body=good,
              headers={"Host": "127.0.0.1:%d" % studio.port, "Content-Type": "application/zip"})
    r = c.getresponse()
    r.read()
    c.close()
    check(r.status == 401, "an upload without the secret: %d" % r.status)
    expect_error(studio.request("POST", "/api/devices/%s/upgrade" % dev, good, "application/zip",
                                {"Origin": "http://evil.example"}), 403, "own pages",
                 "an upload from another origin")
    expect_error(studio.request("GET", "/api/devices/%s/upgrade" % dev), 405, "POST",
                 "a GET of the upload route")
    # Too large: evhttp refuses it from its Content-Length, before the body.
    s = socket.create_connection(("127.0.0.1", studio.port), timeout=30)
    s.sendall(("POST /api/devices/%s/upgrade HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/zip\r\n"
               "Content-Length: %d\r\n\r\n" % (dev, studio.port, studio.secret,
                                                 256 * 1024 * 1024 + 1)).encode())
    head = s.recv(4096)
    s.close()
    check(head.startswith(b"HTTP/1.1 413"), "a body over 256 MiB: %r" % head[:80])
    check(stored() == [], "bad images stored nothing: %s" % stored())


def blob_route(studio, a, b, release_blobs):
    """A is offered release_blobs {sha: bytes}; B is offered nothing."""
    port = studio.device_port
    sha, data = max(release_blobs.items(), key=lambda kv: len(kv[1]))
    size = len(data)
    st, h, body = fd.blob_get(port, *a[1:], sha)
    check(st == 200 and body == data, "a whole blob: %d, %d bytes" % (st, len(body)))
    check(h.get("content-type") == "application/octet-stream" and h.get("content-length") == str(size),
          "a whole blob's headers: %s" % h)
    check("content-range" not in h and h.get("connection") == "close", "200's headers: %s" % h)
    st, h, body = fd.blob_get(port, *a[1:], sha, "bytes=100-")
    check(st == 206 and body == data[100:], "bytes=100-: %d" % st)
    check(h.get("content-range") == "bytes 100-%d/%d" % (size - 1, size), "206's Content-Range: %s" % h)
    check(h.get("content-length") == str(size - 100), "206's Content-Length: %s" % h)
    st, h, body = fd.blob_get(port, *a[1:], sha, "bytes=10-19")
    check(st == 206 and body == data[10:20] and h.get("content-range") == "bytes 10-19/%d" % size,
          "bytes=10-19: %d %s" % (st, h))
    st, h, body = fd.blob_get(port, *a[1:], sha, "bytes=%d-%d" % (size - 5, size + 1000))
    check(st == 206 and body == data[-5:] and h.get("content-range") == "bytes %d-%d/%d" % (size - 5, size - 1, size),
          "LAST beyond the end: %d %s" % (st, h))
    for rng in ("bytes=%d-" % size, "bytes=-5", "bytes=0-1,5-9", "bytes=9-5", "items=0-"):
        st, h, body = fd.blob_get(port, *a[1:], sha, rng)
        check(st == 416 and h.get("content-range") == "bytes */%d" % size and body == b"",
              "Range: %s: %d %s" % (rng, st, h))
    st, h, _ = fd.blob_get(port, *a[1:], "0" * 64)
    check(st == 404 and h.get("content-length") == "0", "an unknown blob: %d" % st)
    st, _, _ = fd.blob_get(port, *b[1:], sha)
    check(st == 404, "a blob offered to another device: %d" % st)
    st, _, _ = fd.blob_get(port, *a[1:], sha.upper())
    check(st == 400, "upper-case hex: %d" % st)
    st, _, _ = fd.blob_get(port, *a[1:], sha[:60])
    check(st == 400, "a short digest: %d" % st)
    st, _, _ = fd.blob_get(port, *a[1:], sha, extra=b"Content-Length: 3\r\n")
    check(st == 400, "a GET with a body: %d" % st)
    t = fd.tls(port, *a[1:])
    t.sendall(b"POST /kos/blobs/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % sha.encode())
    st, h, _, _ = fd.read_answer(t)
    check(st == 400 and h.get("connection") == "close", "a POST: %d %s" % (st, h))
    check(t.recv(100) == b"", "a 400 ends the connection")
    t.close()
    # Keep-alive: two requests on one connection, then Connection: close.
    t = fd.tls(port, *a[1:])
    st1, h1, body1 = fd.blob_get(port, *a[1:], sha, "bytes=0-99", close=False, t=t)
    st2, h2, body2 = fd.blob_get(port, *a[1:], sha, "bytes=100-199", close=False, t=t)
    check(st1 == 206 and st2 == 206 and body1 + body2 == data[:200] and
          h1.get("connection") == "keep-alive", "keep-alive: %d %d %s" % (st1, st2, h1))
    st3, _, _ = fd.blob_get(port, *a[1:], "f" * 64, close=False, t=t)
    check(st3 == 404, "a 404 keeps the connection: %d" % st3)
    st4, h4, body4 = fd.blob_get(port, *a[1:], sha, close=True, t=t)
    check(st4 == 200 and body4 == data and h4.get("connection") == "close", "then close: %d" % st4)
    check(t.recv(100) == b"", "Connection: close ends the connection")
    t.close()
    # A request for the link's path on the blob connection is not served.
    t = fd.tls(port, *a[1:])
    t.sendall(b"GET /kos/blobs/%s HTTP/1.1\r\nHost: x\r\n\r\nGET /kos/link/1 HTTP/1.1\r\nHost: x\r\n\r\n"
              % sha.encode())
    st1, _, _, rest = fd.read_answer(t)
    st2, _, _, _ = fd.read_answer(t, rest)
    check(st1 == 200 and st2 == 404, "pipelined, then another path: %d %d" % (st1, st2))
    t.close()


def slow_client(studio, a, big_sha, big, small_sha, small):
    """A client that asks for a big blob and never reads: the server holds
    a bounded part of it and serves another client meanwhile."""
    before = rss_kib(studio.pid)
    stalled = []
    for _ in range(4):
        t = fd.tls(studio.device_port, *a[1:])
        t.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t.sendall(b"GET /kos/blobs/%s HTTP/1.1\r\nHost: x\r\n\r\n" % big_sha.encode())
        head = t.recv(64)  # the answer has begun: the server has read ahead what it will
        check(head.startswith(b"HTTP/1.1 200 "), "a stalled client's answer: %r" % head)
        stalled.append(t)
    for _ in range(5):
        st, _, body = fd.blob_get(studio.device_port, *a[1:], small_sha)
        check(st == 200 and body == small, "served while others stall: %d" % st)
    grown = rss_kib(studio.pid) - before
    check(grown < 24 * 1024, "four stalled clients of a %d MiB blob grew the server by %d KiB"
          % (len(big) >> 20, grown))
    st, _, body = fd.blob_get(studio.device_port, *a[1:], big_sha, "bytes=1000-")
    check(st == 206 and body == big[1000:], "the big blob to a reading client: %d" % st)
    for t in stalled:
        t.close()


def revoked(studio, c, sha):
    """C was offered blob sha: a connection of its own, kept, is cut when
    C is revoked, and the next is refused in the handshake."""
    t = fd.tls(studio.device_port, *c[1:])
    st, _, _ = fd.blob_get(studio.device_port, *c[1:], sha, close=False, t=t)
    check(st == 200, "C's blob before it is revoked: %d" % st)
    st, _ = studio.request("POST", "/api/devices/%s/revoke" % c[0])
    check(st == 200, "revoke: %d" % st)
    try:
        t.settimeout(30)
        check(t.recv(100) == b"", "a revoked device's blob connection is closed")
    except (ssl.SSLError, OSError):
        pass
    t.close()
    try:
        fd.blob_get(studio.device_port, *c[1:], "0" * 64)
        check(False, "a revoked device was answered")
    except (ssl.SSLError, ConnectionError, OSError):
        pass


def main():
    r = tool("server.start", "--port", "0", "--device-port", "0")
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        sys.exit("server.start failed")
    studio = fd.Studio(DATA)
    try:
        a = studio.register("dev-a", os.path.join(WORK, "a"))
        b = studio.register("dev-b", os.path.join(WORK, "b"))
        c = studio.register("dev-c", os.path.join(WORK, "c"))
        good = open(IMAGE, "rb").read()
        expect_error(push(studio, "ab" * 32, good), 404, "no device", "an unknown device")
        expect_error(push(studio, a[0], good), 409, "not online", "a device never connected")
        da = fd.Device(studio.device_port, *a[1:])
        bad_images(studio, a[0])

        events = []
        cond = threading.Condition()

        def on_event(kind, d):
            with cond:
                events.append((kind, d))
                cond.notify_all()

        ready = threading.Event()
        threading.Thread(target=studio.events, args=(a[0], on_event, ready), daemon=True).start()
        check(ready.wait(10), "an event stream")

        # A good image, and the command it makes.
        entries = dict(image_entries())
        st, j = push(studio, a[0], good)
        check(st == 202, "a good image: %d %s" % (st, j))
        blobs = {n[6:]: d for n, d in entries.items() if n.startswith("blobs/")}
        check(j and j["blobs"] == len(blobs) and j["bytes"] == sum(map(len, blobs.values())),
              "the answer counts the blobs: %s" % j)
        check(j and isinstance(j.get("release"), int) and j.get("system"), "release and system: %s" % j)
        check(stored() == sorted(blobs), "the blobs stored by digest: %s" % stored())
        for sha in stored():
            with open(os.path.join(BLOBS, sha), "rb") as f:
                check(hashlib.sha256(f.read()).hexdigest() == sha, "stored blob %s whole" % sha)
        cmd = da.next_command()
        check(cmd["kind"] == "upgrade" and cmd["id"] == j["id"], "the Upgrade command: %s" % cmd)
        check(cmd.get("image_sig") == entries["image.sig"].decode(), "Upgrade.image_sig is image.sig")
        check(sorted(cmd.get("blobs", [])) == sorted((s, len(d)) for s, d in blobs.items()),
              "Upgrade.blobs: %s" % cmd.get("blobs"))
        check(cmd.get("release") == j["release"] and cmd.get("system") == j["system"],
              "Upgrade's release and system: %s" % cmd)
        inodes = {s: os.stat(os.path.join(BLOBS, s)).st_ino for s in stored()}
        st, j2 = push(studio, a[0], good)
        check(st == 202 and j2["id"] != j["id"], "the same image again: %d" % st)
        cmd2 = da.next_command()
        check({s: os.stat(os.path.join(BLOBS, s)).st_ino for s in stored()} == inodes,
              "a blob stored already is not written again")

        blob_route(studio, a, b, blobs)

        # Progress and the result: events, and the device's record.
        da.send_admin(fd.progress(cmd2["id"], "fetching", 1000, 5000, 2))
        da.send_admin(fd.result(cmd2["id"], 0, "stored <b>generation</b> 2"))
        with cond:
            cond.wait_for(lambda: any(k == "result" for k, _ in events), 30)
        up = [d for k, d in events if k == "upgrade"]
        check(up and up[0] == {"device": a[0], "command": cmd2["id"], "stage": "fetching",
                               "done": 1000, "total": 5000, "blobs": 2}, "the upgrade event: %s" % up)
        res = [d for k, d in events if k == "result"]
        check(res and res[0]["id"] == cmd2["id"] and res[0]["status"] == 0, "the result event: %s" % res)
        st, dev = studio.request("GET", "/api/devices/" + a[0])
        u = (dev or {}).get("upgrade") or {}
        check(u.get("command") == cmd2["id"] and u.get("stage") == "fetching" and
              u.get("done") == 1000 and u.get("total") == 5000 and u.get("status") == 0 and
              u.get("message") == "stored <b>generation</b> 2" and u.get("release") == j["release"],
              "the device's last upgrade: %s" % u)
        check(u.get("served", 0) > 0, "bytes served counted: %s" % u.get("served"))
        st, devb = studio.request("GET", "/api/devices/" + b[0])
        check(devb and devb.get("upgrade") is None, "no upgrade for B: %s" % (devb or {}).get("upgrade"))

        # A big blob for the slow clients: a system whose binary is 24 MiB.
        big = os.urandom(24 * 1024 * 1024)
        big_sha = hashlib.sha256(big).hexdigest()
        with open(os.path.join(WORK, "big"), "wb") as f:
            f.write(big)
        with open(os.path.join(WORK, "big.yaml"), "w") as f:
            f.write("system: bigblob\nbase: minimal\napps:\n  big:\n    binary: big\n"
                    "    memory: 64MiB\n")
        r = tool("manifest.build", os.path.join(WORK, "big.yaml"), "-o", os.path.join(WORK, "big.zip"),
                 "--key", os.environ["KOS_KEY"], "--bin", "big=" + os.path.join(WORK, "big"))
        check(r.returncode == 0, "building the big image: %s" % r.stderr)
        st, j3 = push(studio, a[0], open(os.path.join(WORK, "big.zip"), "rb").read())
        check(st == 202, "an image with a big blob: %d %s" % (st, j3))
        da.next_command()
        small_sha, small = min(blobs.items(), key=lambda kv: len(kv[1]))
        slow_client(studio, a, big_sha, big, small_sha, small)

        # A revoked device is refused by the blob route as by the link.
        st, _ = studio.request("GET", "/api/server")
        check(st == 200, "the API after the slow clients: %d" % st)
        dc = fd.Device(studio.device_port, *c[1:])
        st, _ = push(studio, c[0], good)
        check(st == 202, "a push to C: %d" % st)
        st, _ = studio.request("GET", "/api/server")
        check(st == 200, "the API after a push to C: %d" % st)
        dc.close()
        st, _ = studio.request("GET", "/api/server")
        check(st == 200, "the API after C's link closed: %d" % st)
        revoked(studio, c, small_sha)
        da.close()
    finally:
        tool("server.stop")
        if failures:
            log = os.path.join(DATA, "server.log")
            if os.path.exists(log):
                print("--- server.log:\n" + open(log).read()[-3000:], file=sys.stderr)
        shutil.rmtree(WORK, ignore_errors=True)
    if failures:
        sys.exit("%d checks failed" % len(failures))
    print("ok")


if __name__ == "__main__":
    main()
