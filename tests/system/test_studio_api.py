#!/usr/bin/env python3
"""The Studio server's API over real HTTP (docs/link.md, "The server's API";
docs/studio.md): every route refuses a request without the secret (none, a
wrong one, in the header or the cookie); opening /?secret=... sets an
HttpOnly, SameSite=Strict cookie and sends the browser to / without the
secret; a request that changes something from another origin is refused;
bad input to every route gets a JSON error saying what was wrong; device
text comes back as data and the page's script inserts it as text; an event
stream delivers events, and one that never reads is dropped without growing
the server.

Environment: KOS_TOOL, KOS_SERVER. Starts its own Studio on free ports in a
scratch folder and stops it at the end.
"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOOL = os.environ["KOS_TOOL"]
WORK = tempfile.mkdtemp(prefix="kos-test-studio-api.")
ENV = dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, "xdg"))
DATA = os.path.join(WORK, "xdg", "kos", "studio")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tool(*args):
    return subprocess.run([TOOL, *args], env=ENV, capture_output=True, text=True)


def runtime():
    rt = {}
    with open(os.path.join(DATA, "studio.run")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                k, v = line.split(" ", 1)
                rt[k] = v.strip()
    return rt


def ed25519_pem(raw=None):
    """A SubjectPublicKeyInfo PEM for 32 bytes (any 32 bytes are an
    Ed25519 public key as far as its encoding goes)."""
    der = bytes.fromhex("302a300506032b6570032100") + (raw or os.urandom(32))
    return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % base64.b64encode(der).decode()


def openssl_pem(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


class Api:
    def __init__(self, port, secret):
        self.port = port
        self.secret = secret
        self.host = "127.0.0.1:%d" % port
        self.conn = None

    def request(self, method, path, body=None, headers=None, auth=True, raw_body=None):
        h = {"Host": self.host}
        if auth:
            h["Authorization"] = "Bearer " + self.secret
        if body is not None:
            raw_body = json.dumps(body).encode()
        if raw_body is not None:
            h.setdefault("Content-Type", "application/json")
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=raw_body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        j = None
        if data and r.getheader("Content-Type", "").startswith("application/json"):
            j = json.loads(data)
        return r.status, j, r, data


def stream_status(port, auth):
    """The status of GET /api/events with header `auth` (the stream itself
    is never read to its end)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n\r\n" % (port, auth)).encode())
    s.settimeout(60)
    head = b""
    while b"\r\n" not in head:
        head += s.recv(4096)
    s.close()
    return int(head.split(b" ")[1])


def expect_error(api, status, words, method, path, **kw):
    got, j, _, data = api.request(method, path, **kw)
    ok = got == status and j is not None and isinstance(j.get("error"), str) and words in j["error"]
    check(ok, "%s %s: expected %d with '%s', got %d %s" % (method, path, status, words, got, data[:300]))
    return j


def main():
    device_port = free_port()
    r = tool("server.start", "--port", "0", "--device-port", str(device_port))
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        sys.exit("server.start failed")
    rt = runtime()
    port = int(re.match(r"http://127\.0\.0\.1:(\d+)/$", rt["url"]).group(1))
    secret = rt["secret"]
    api = Api(port, secret)
    wrong = ("0" if secret[0] != "0" else "1") + secret[1:]
    good_id = None

    # A registered device for the routes that name one.
    st, j, _, _ = api.request("POST", "/api/devices", {"public_key": ed25519_pem(), "name": "a"})
    check(st == 201, "register: %d" % st)
    good_id = j["id"]
    check(j["address"] == "127.0.0.1:%d" % device_port, "address: %s" % j["address"])
    check(j["certificate"].startswith("-----BEGIN CERTIFICATE-----"), "certificate")
    check(j["server_ca"] == open(os.path.join(DATA, "ca.crt")).read(), "server_ca is ca.crt")
    unknown = "f" * 64

    # ---- the server itself: where devices connect (the UI's New system
    # page) and its CA (keys.generate --pending)
    st, j, _, _ = api.request("GET", "/api/server")
    check(st == 200 and j == {"name": "studio", "device_address": "127.0.0.1:%d" % device_port,
                              "server_ca": open(os.path.join(DATA, "ca.crt")).read()},
          "GET /api/server: %d %s" % (st, j))
    expect_error(api, 405, "GET only", "POST", "/api/server", body={})
    expect_error(api, 400, "takes no query parameters", "GET", "/api/server?x=1")

    # ---- the secret, on every route
    routes = [
        ("GET", "/", None), ("GET", "/app.js", None), ("GET", "/style.css", None),
        ("GET", "/nope", None), ("GET", "/api/devices", None),
        ("POST", "/api/devices", {"public_key": ed25519_pem()}),
        ("GET", "/api/devices/" + good_id, None),
        ("POST", "/api/devices/%s/revoke" % unknown, None),
        ("POST", "/api/devices/%s/commands" % good_id, {"reboot": True}),
        ("GET", "/api/devices/%s/logs" % good_id, None),
        ("GET", "/api/events", None), ("GET", "/api/nope", None), ("PUT", "/api/devices", None),
        ("GET", "/api/server", None),
    ]
    for method, path, body in routes:
        for name, headers in [
            ("no secret", {}),
            ("a wrong secret", {"Authorization": "Bearer " + wrong}),
            ("another scheme", {"Authorization": "Basic " + secret}),
            ("a wrong cookie", {"Cookie": "kos_session=" + wrong}),
            ("the secret in the query", {}),
        ]:
            p = path + ("?secret=" + secret if name.endswith("query") and path != "/" else "")
            st, j, _, _ = api.request(method, p, body=body, headers=headers, auth=False)
            check(st == 401, "%s %s with %s: %d, expected 401" % (method, p, name, st))
            if path.startswith("/api/"):
                check(j is not None and "secret" in j.get("error", ""), "%s %s: 401 says why" % (method, p))
        if path == "/api/events":
            st = stream_status(port, "Authorization: Bearer " + secret)
        else:
            st, _, _, _ = api.request(method, path, body=body)
        check(st != 401, "%s %s with the secret: 401" % (method, path))

    # ---- the cookie: /?secret= sets it and redirects to / without the secret
    st, _, r, _ = api.request("GET", "/?secret=" + wrong, auth=False)
    check(st == 401 and r.getheader("Set-Cookie") is None, "a wrong secret in the URL sets no cookie")
    st, _, r, _ = api.request("GET", "/?secret=" + secret, auth=False)
    cookie = r.getheader("Set-Cookie") or ""
    check(st == 303 and r.getheader("Location") == "/", "/?secret= redirects to /: %d %s" % (st, r.getheader("Location")))
    check(re.fullmatch(r"kos_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict", cookie) is not None,
          "the cookie: %s" % cookie)
    session = {"Cookie": cookie.split(";")[0]}
    st, _, r, page = api.request("GET", "/", headers=session, auth=False)
    check(st == 200 and b"<title>KOS Studio</title>" in page, "/ with the cookie: %d" % st)
    check(secret.encode() not in page, "the page holds the secret")
    csp = r.getheader("Content-Security-Policy") or ""
    check("script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp,
          "the page's CSP: %s" % csp)
    check(r.getheader("X-Frame-Options") == "DENY", "X-Frame-Options")
    st, j, r, _ = api.request("GET", "/api/devices", headers=session, auth=False)
    check(st == 200 and len(j["devices"]) >= 1, "the API with the cookie: %d" % st)
    check(r.getheader("Cache-Control") == "no-store", "API answers are not cached")

    # ---- requests that change something: only from the server's own origin
    own = "http://127.0.0.1:%d" % port
    for origin in ["http://evil.example", "null", "http://127.0.0.1:%d" % (port + 1), "https://127.0.0.1:%d" % port]:
        expect_error(api, 403, "must come from this server's own pages", "POST", "/api/devices",
                     body={"public_key": ed25519_pem()}, headers=dict(session, Origin=origin), auth=False)
        expect_error(api, 403, "own pages", "POST", "/api/devices/%s/revoke" % good_id,
                     headers={"Origin": origin})
    expect_error(api, 403, "own pages", "POST", "/api/devices", body={"public_key": ed25519_pem()},
                 headers=dict(session, **{"Sec-Fetch-Site": "cross-site"}), auth=False)
    for o in [own, "http://localhost:%d" % port]:
        st, _, _, _ = api.request("POST", "/api/devices", body={"public_key": ed25519_pem()},
                                  headers=dict(session, Origin=o, **{"Sec-Fetch-Site": "same-origin"}), auth=False)
        check(st == 201, "a POST from %s: %d" % (o, st))
    # The Host must be the server's own (a DNS name of another site is not).
    expect_error(api, 400, "answers only to Host", "GET", "/api/devices", headers={"Host": "evil.example:%d" % port})
    st, _, _, _ = api.request("GET", "/api/devices", headers={"Host": "localhost:%d" % port})
    check(st == 200, "Host localhost:PORT: %d" % st)
    expect_error(api, 405, "GET, POST", "DELETE", "/api/devices/" + good_id)
    expect_error(api, 405, "POST only", "GET", "/api/devices/%s/revoke" % good_id)
    expect_error(api, 405, "GET only", "POST", "/api/devices/%s/logs" % good_id)
    st, _, _, _ = api.request("HEAD", "/api/events")
    check(st == 405, "HEAD /api/events: %d" % st)

    # ---- bad input, route by route
    expect_error(api, 400, "not valid JSON", "POST", "/api/devices", raw_body=b"{\"public_key\": ")
    expect_error(api, 400, "must be a JSON object", "POST", "/api/devices", raw_body=b"[1, 2]")
    expect_error(api, 400, "body is empty", "POST", "/api/devices", raw_body=b"")
    expect_error(api, 400, "unknown field \"pubkey\"", "POST", "/api/devices", body={"pubkey": ed25519_pem()})
    expect_error(api, 400, "\"public_key\" is missing", "POST", "/api/devices", body={"name": "x"})
    expect_error(api, 400, "\"public_key\" must be a string", "POST", "/api/devices", body={"public_key": 12})
    expect_error(api, 415, "Content-Type: application/json", "POST", "/api/devices",
                 raw_body=json.dumps({"public_key": ed25519_pem()}).encode(), headers={"Content-Type": "text/plain"})
    expect_error(api, 413, "at most 65536", "POST", "/api/devices", raw_body=b" " * (100 * 1024))
    # evhttp buffers up to an image's 256 MiB for any route (it has one
    # bound); the route refuses what is over its own.
    expect_error(api, 413, "at most 65536", "POST", "/api/devices", raw_body=b" " * (2 << 20))
    # Beyond what evhttp buffers at all: refused from the length alone.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("POST /api/devices HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, secret, (256 << 20) + 1)).encode())
    s.settimeout(60)
    head = s.recv(4096)
    check(head.startswith(b"HTTP/1.1 413"), "a body over 256 MiB: %s" % head[:40])
    s.close()
    keys = os.path.join(WORK, "keys")
    os.makedirs(keys)
    for kind, args in [("x25519", ["-algorithm", "X25519"]), ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                       ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])]:
        subprocess.run(["openssl", "genpkey", *args, "-out", os.path.join(keys, kind)], check=True, capture_output=True)
        pub = openssl_pem("pkey", "-in", os.path.join(keys, kind), "-pubout")
        expect_error(api, 400, "a device's identity key is Ed25519", "POST", "/api/devices", body={"public_key": pub})
    priv = open(os.path.join(keys, "x25519")).read()
    expect_error(api, 400, "holds a private key", "POST", "/api/devices", body={"public_key": priv})
    expect_error(api, 400, "not one PEM public key", "POST", "/api/devices", body={"public_key": "AAAA"})
    expect_error(api, 400, "\"name\" must be", "POST", "/api/devices", body={"public_key": ed25519_pem(), "name": "x" * 65})
    dup = ed25519_pem()
    api.request("POST", "/api/devices", body={"public_key": dup})
    expect_error(api, 409, "already registered", "POST", "/api/devices", body={"public_key": dup})
    expect_error(api, 400, "takes no query parameters", "GET", "/api/devices?x=1")
    expect_error(api, 404, "no device " + unknown, "GET", "/api/devices/" + unknown)
    expect_error(api, 404, "64 lowercase hex digits", "GET", "/api/devices/XYZ")
    expect_error(api, 404, "64 lowercase hex digits", "GET", "/api/devices/" + good_id.upper())
    expect_error(api, 404, "no such route", "GET", "/api/devices/%s/nothing" % good_id)
    expect_error(api, 404, "no device", "POST", "/api/devices/%s/revoke" % unknown)
    expect_error(api, 400, "takes no query parameters", "POST", "/api/devices/%s/revoke?now=1" % good_id)
    expect_error(api, 400, "not valid JSON", "POST", "/api/devices/%s/commands" % good_id, raw_body=b"{")
    expect_error(api, 400, "unknown field \"halt\"", "POST", "/api/devices/%s/commands" % good_id, body={"halt": True})
    expect_error(api, 400, "exactly one command", "POST", "/api/devices/%s/commands" % good_id,
                 body={"reboot": True, "restart_app": "a"})
    expect_error(api, 400, "an app's name", "POST", "/api/devices/%s/commands" % good_id, body={"restart_app": "a b"})
    expect_error(api, 404, "no device", "POST", "/api/devices/%s/commands" % unknown, body={"reboot": True})
    expect_error(api, 409, "is not online", "POST", "/api/devices/%s/commands" % good_id, body={"reboot": True})
    expect_error(api, 400, "\"limit\" takes one number from 1 to 1000", "GET", "/api/devices/%s/logs?limit=5000" % good_id)
    expect_error(api, 400, "\"after\" takes one record number", "GET", "/api/devices/%s/logs?after=x" % good_id)
    expect_error(api, 400, "unknown query parameter \"app\"", "GET", "/api/devices/%s/logs?app=a" % good_id)
    expect_error(api, 404, "no device", "GET", "/api/devices/%s/logs" % unknown)
    st, j, _, _ = api.request("GET", "/api/devices/%s/logs?after=0&limit=10" % good_id)
    check(st == 200 and j == {"records": [], "dropped": 0, "next": 0}, "logs of a new device: %s" % j)
    expect_error(api, 400, "\"device\" takes one device id", "GET", "/api/events?device=zz")
    expect_error(api, 404, "no device", "GET", "/api/events?device=" + unknown)
    expect_error(api, 404, "no such route", "GET", "/api/nothing")
    expect_error(api, 404, "no such page", "GET", "/index.php")

    # ---- device text is data: a name that is markup comes back as it was
    name = "<script>alert(1)</script>"
    st, j, _, _ = api.request("POST", "/api/devices", body={"public_key": ed25519_pem(), "name": name})
    check(st == 201 and j["name"] == name, "register a name with markup: %d %s" % (st, j))
    xss_id = j["id"]
    st, j, r, raw = api.request("GET", "/api/devices/" + xss_id)
    check(j["name"] == name and r.getheader("Content-Type").startswith("application/json"),
          "the name comes back as JSON data")
    check(r.getheader("X-Content-Type-Options") == "nosniff", "nosniff")
    # The page is static (nothing of a device in it) and its script puts
    # device text in with textContent, never as HTML.
    _, _, _, page = api.request("GET", "/")
    check(b"alert(1)" not in page, "the page holds device data")
    _, _, r, js = api.request("GET", "/app.js")
    js = js.decode()
    check(r.getheader("Content-Type").startswith("text/javascript"), "app.js's type")
    check("textContent" in js, "app.js uses textContent")
    code = "\n".join(l for l in js.splitlines() if not l.strip().startswith("//"))
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]:
        check(sink not in code, "app.js uses %s" % sink)
    # The element ids app.js's head documents are the page's.
    for ident in re.findall(r"getElementById\('([a-z-]+)'\)|\$\('([a-z-]+)'\)", js):
        ident = ident[0] or ident[1]
        check(('id="%s"' % ident).encode() in page, "app.js uses id %s, which index.html lacks" % ident)

    # ---- events: a stream gets the events; one that never reads is dropped
    reader = socket.create_connection(("127.0.0.1", port))
    reader.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\n\r\n"
                    % (port, session["Cookie"])).encode())
    reader.settimeout(60)
    sleeper = socket.socket()
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.connect(("127.0.0.1", port))
    sleeper.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                     % (port, secret)).encode())
    got = b""
    while b"text/event-stream" not in got:
        got += reader.recv(65536)
    st, j, _, _ = api.request("POST", "/api/devices", body={"public_key": ed25519_pem(), "name": "evented"})
    while b"\"name\":\"evented\"" not in got:
        got += reader.recv(65536)
    check(b"event: device\ndata: {" in got, "the device event's lines")
    reader.setblocking(False)

    def drain():
        try:
            while reader.recv(1 << 20):
                pass
        except BlockingIOError:
            pass

    log = os.path.join(DATA, "server.log")
    log_at = os.path.getsize(log)

    def dropped():
        with open(log) as f:
            f.seek(log_at)
            return "dropped a client that does not read" in f.read()

    rss_before = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%s/status" % rt["pid"]).read()).group(1))
    registered = 0
    while registered < 4000 and (registered % 50 or not dropped()):
        st, _, _, _ = api.request("POST", "/api/devices", body={"public_key": ed25519_pem(), "name": "n" * 64})
        check(st == 201, "registration %d: %d" % (registered, st))
        registered += 1
        drain()
    check(dropped(),
          "a client that never reads was not dropped after %d events" % registered)
    rss_after = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%s/status" % rt["pid"]).read()).group(1))
    print("events: the client that does not read was dropped after %d registrations; "
          "server RSS %d KiB -> %d KiB" % (registered, rss_before, rss_after))
    # The dropped stream ends; the server and the other stream go on.
    sleeper.settimeout(60)
    total = 0
    try:
        while True:
            b = sleeper.recv(1 << 20)
            if not b:
                break
            total += len(b)
    except ConnectionResetError:
        pass
    check(total < registered * 400, "the dropped client received everything (%d bytes)" % total)
    reader.setblocking(True)
    reader.settimeout(60)
    got = b""
    api.request("POST", "/api/devices/%s/revoke" % xss_id)
    while b"\"state\":\"revoked\"" not in got:
        got += reader.recv(65536)
    st, j, _, _ = api.request("GET", "/api/devices")
    check(st == 200 and len(j["devices"]) >= registered, "the server answers after the drop")
    reader.close()
    sleeper.close()

    # ---- too many streams: refused, not piled up
    streams = []
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (port, secret)).encode())
        s.settimeout(60)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        streams.append((s, head.split(b"\r\n")[0]))
    statuses = [h for _, h in streams]
    ok, busy = statuses.count(b"HTTP/1.1 200 OK"), statuses.count(b"HTTP/1.1 503 Service Unavailable")
    check(30 <= ok <= 32 and ok + busy == 40, "40 streams: %d opened, %d refused" % (ok, busy))
    for s, _ in streams:
        s.close()

    r = tool("server.stop")
    check(r.returncode == 0, "server.stop: %s" % r.stderr)


try:
    main()
finally:
    tool("server.stop")
    shutil.rmtree(WORK, ignore_errors=True)
if failures:
    sys.exit("%d failures" % len(failures))
print("PASS")
