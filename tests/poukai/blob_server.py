#!/usr/bin/env python3
"""blob_server.py - a test server of the device port's blob GETs
(docs/link.md, "Blobs"), written with Python's ssl and socketserver only,
so the tunnel's fetch is checked against an implementation not its own.

TLS 1.3 only, with the device's client certificate required against the
device CA. GET /kos/blobs/<sha256> serves DIR/<sha256> with Range
bytes=FIRST-LAST (206) or whole (200), and how it answers is chosen per
blob by DIR/modes.txt ("<sha256> <mode>" lines, read at each request):

  good      as docs/link.md says
  whole     200 with the whole blob, whatever the Range
  badrange  206 whose Content-Range starts one byte later than asked
  toolong   206 whose Content-Length is one more than the range
  extra     206 as asked, then 100 bytes more than its Content-Length
  forbid    403
  chunked   206 with Transfer-Encoding: chunked
  cut       206 as asked, half of the body, then the connection closed
  stall     206 as asked, half of the body, then nothing (until closed)
  endless   a header block that never ends
A blob that is not in DIR is answered 404. Any other request (the link's
upgrade) is answered 404 too.

Usage: blob_server.py DIR CERT KEY CA PORTFILE [PORT]
Listens on 127.0.0.1:PORT (any free port without it), writes the port
into PORTFILE, and one line per request on stdout:
"get SHA RANGE MODE" (RANGE as sent, "-" for none).
"""
import os
import re
import socket
import socketserver
import ssl
import sys
import threading
import time

BLOB_DIR = None


def mode_of(sha):
    try:
        with open(os.path.join(BLOB_DIR, "modes.txt")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] == sha:
                    return parts[1]
    except FileNotFoundError:
        pass
    return "good"


def answer(w, status, reason, headers, body=b""):
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    head += "".join("%s: %s\r\n" % kv for kv in headers)
    w.write(head.encode() + b"\r\n" + body)
    w.flush()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            self.serve()
        except (OSError, ssl.SSLError):
            pass

    def serve(self):
        request = self.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
        rng = None
        while True:
            line = self.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "range":
                rng = value.strip()
        m = re.fullmatch(r"GET /kos/blobs/([0-9a-f]{64}) HTTP/1\.1", request)
        if not m:
            print("other %s" % request, flush=True)
            answer(self.wfile, 404, "Not Found", [("Content-Length", "0")])
            return
        sha = m.group(1)
        mode = mode_of(sha)
        print("get %s %s %s" % (sha, rng or "-", mode), flush=True)
        path = os.path.join(BLOB_DIR, sha)
        if not os.path.exists(path):
            answer(self.wfile, 404, "Not Found", [("Content-Length", "0")])
            return
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        if mode == "forbid":
            answer(self.wfile, 403, "Forbidden", [("Content-Length", "0")])
            return
        if mode == "endless":
            self.wfile.write(b"HTTP/1.1 206 Partial Content\r\n")
            for i in range(100000):
                self.wfile.write(b"X-Filler-%d: %s\r\n" % (i, b"y" * 64))
            return
        first, last = 0, size - 1
        if rng:
            r = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            if not r or int(r.group(1)) >= size:
                answer(self.wfile, 416, "Range Not Satisfiable",
                       [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
                return
            first = int(r.group(1))
            if r.group(2):
                last = min(int(r.group(2)), size - 1)
        body = data[first:last + 1]
        if mode == "whole" or not rng:
            answer(self.wfile, 200, "OK", [("Content-Type", "application/octet-stream"),
                                           ("Content-Length", str(size))], data)
            return
        headers = [("Content-Type", "application/octet-stream"),
                   ("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                   ("Content-Length", str(len(body)))]
        if mode == "badrange":
            headers[1] = ("Content-Range", "bytes %d-%d/%d" % (first + 1, last, size))
        elif mode == "toolong":
            headers[2] = ("Content-Length", str(len(body) + 1))
        elif mode == "chunked":
            headers[2] = ("Transfer-Encoding", "chunked")
        elif mode == "extra":
            body += b"z" * 100
        elif mode in ("cut", "stall"):
            answer(self.wfile, 206, "Partial Content", headers, body[:len(body) // 2])
            if mode == "stall":
                self.request.settimeout(None)
                while self.request.recv(1024):  # until the device gives up
                    pass
            return
        answer(self.wfile, 206, "Partial Content", headers, body)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx):
        self.ctx = ctx
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def finish_request(self, request, client_address):
        tls = self.ctx.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (OSError, ssl.SSLError) as e:
            print("tls-refused %s" % e, flush=True)
            # The alert is out; take what the device sends after its side
            # of the handshake (its GET) before closing, so that the close
            # is not a reset that drops the alert unread on the device.
            raw = socket.socket(fileno=tls.detach())
            try:
                raw.settimeout(2)
                raw.recv(65536)
            except OSError:
                pass
            raw.close()
            return
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.RequestHandlerClass(tls, client_address, self)
        try:
            tls.close()
        except OSError:
            pass


def main():
    global BLOB_DIR
    BLOB_DIR, cert, key, ca, portfile = sys.argv[1:6]
    port = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = Server(("127.0.0.1", port), ctx)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
