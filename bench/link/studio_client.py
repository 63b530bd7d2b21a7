#!/usr/bin/env python3
"""studio_client.py - the clients of bench/link's device benchmarks:
a command's round trip, server to device and back, timed one at a time on
loopback (cmd_rtt.sh), and log records counted as they reach a Studio's
event stream (log_rate.sh).

  studio_client.py rtt --url URL --secret S --device ID --n N --command JSON
      POSTs JSON to the Studio's /api/devices/ID/commands N times, each
      after the last one's `result` event came on /api/events?device=ID,
      and times the POST's start to the event's arrival.
  studio_client.py mqtt-device --port P --certs DIR --id ID
      a device's MQTT client: answers each command on kos/ID/cmd with its
      result on kos/ID/result (until it is killed).
  studio_client.py mqtt-rtt --port P --certs DIR --id ID --n N --command JSON
      publishes JSON, numbered, to kos/ID/cmd N times, each after the last
      one's result came on kos/ID/result, and times publish to result.
  studio_client.py logs --url URL --secret S --device ID --app APP --n N
      counts the records of APP (not console lines) in the `log` events of
      /api/events?device=ID, and the records the device says it dropped,
      until N have come or none for --quiet seconds after the first
      (an error if none comes within 120 s);
      prints "ready" once the stream is open.

Both MQTT clients speak MQTT 3.1.1 (QoS 0, clean session) over TLS 1.3
with a client certificate, DIR/NAME.crt and DIR/NAME.key (NAME: commander,
device), to a broker that trusts DIR/ca.crt. rtt and mqtt-rtt print one
line, after 10 round trips not counted (warm-up):
  rtt SIDE n=N p50_ms=.. p99_ms=.. mean_ms=.. min_ms=.. max_ms=..
logs prints:
  logs stream n=N dropped=D per_s=R span_s=S
"""
import argparse
import http.client
import json
import socket
import ssl
import statistics
import sys
import threading
import time
import urllib.parse

WARMUP = 10


def summary(side, times):
    times = sorted(times)
    n = len(times)
    p99 = times[min(n - 1, int(0.99 * n))]
    print(f"rtt {side} n={n} p50_ms={statistics.median(times) * 1e3:.3f} "
          f"p99_ms={p99 * 1e3:.3f} mean_ms={statistics.fmean(times) * 1e3:.3f} "
          f"min_ms={times[0] * 1e3:.3f} max_ms={times[-1] * 1e3:.3f}", flush=True)


# ---- KOS: the Studio's API and its event stream ----

def events(a, on_event, ready):
    """Reads /api/events?device=ID, calling on_event(type, data) for each
    event, after setting ready once the stream is open. On a socket of its
    own, its chunked encoding undone here, 64 KiB at a time: http.client's
    readline() kept up with a few thousand records a second, and the
    Studio drops a client that falls 512 KiB behind (docs/studio.md)."""
    u = urllib.parse.urlparse(a.url)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(f"GET /api/events?device={a.device} HTTP/1.1\r\n"
              f"Host: {u.hostname}:{u.port}\r\n"
              f"Authorization: Bearer {a.secret}\r\n\r\n".encode())
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("studio_client: GET /api/events: the server closed the connection")
        raw += chunk
    head, raw = raw.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        sys.exit(f"studio_client: GET /api/events: {head.splitlines()[0]!r}")
    chunked = b"transfer-encoding: chunked" in head.lower()
    ready.set()
    raw, body, event = bytearray(raw), bytearray(), None
    while True:
        if chunked:  # move the whole chunks in raw to body
            while True:
                end = raw.find(b"\r\n")
                if end < 0:
                    break
                size = int(bytes(raw[:end]).split(b";")[0], 16)
                if size == 0:
                    return
                if len(raw) < end + 2 + size + 2:
                    break
                body += raw[end + 2:end + 2 + size]
                del raw[:end + 2 + size + 2]
        else:
            body += raw
            raw.clear()
        start = 0
        while True:
            nl = body.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(body[start:nl]).rstrip(b"\r")
            start = nl + 1
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: "):
                on_event(event, json.loads(line[6:]))
        del body[:start]
        chunk = s.recv(65536)
        if not chunk:
            return
        raw += chunk


def rtt(a):
    u = urllib.parse.urlparse(a.url)
    auth = {"Authorization": "Bearer " + a.secret}
    results = {}
    cond = threading.Condition()
    ready = threading.Event()

    def on_event(kind, d):
        if kind == "result":
            with cond:
                results[d["id"]] = (time.perf_counter(), d["status"], d.get("message"))
                cond.notify()

    threading.Thread(target=events, args=(a, on_event, ready), daemon=True).start()
    if not ready.wait(10):
        sys.exit("studio_client: no event stream")
    post = http.client.HTTPConnection(u.hostname, u.port)
    post.connect()
    post.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    body = a.command.encode()
    for i in range(a.n + WARMUP):
        t0 = time.perf_counter()
        post.request("POST", f"/api/devices/{a.device}/commands", body=body,
                     headers={**auth, "Content-Type": "application/json"})
        r = post.getresponse()
        answer = r.read()
        if r.status != 202:
            sys.exit(f"studio_client: POST commands: {r.status} {answer!r}")
        cid = json.loads(answer)["id"]
        with cond:
            if not cond.wait_for(lambda: cid in results, 10):
                sys.exit(f"studio_client: no result for command {cid} within 10 s")
            t1, status, message = results.pop(cid)
        if status != 0:
            sys.exit(f"studio_client: command {cid} failed: {status} {message}")
        if i >= WARMUP:
            times.append(t1 - t0)
    summary("kos", times)


# ---- MQTT 3.1.1, as little as the peer needs ----

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


class Mqtt:
    def __init__(self, port, certs, name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(f"{certs}/ca.crt")
        ctx.load_cert_chain(f"{certs}/{name}.crt", f"{certs}/{name}.key")
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""
        self.send(0x10, utf8("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + utf8(name))
        kind, body = self.packet()
        if kind != 0x20 or body[1] != 0:
            sys.exit(f"studio_client: {name}: no CONNACK 0")

    def send(self, first, body):
        self.s.sendall(bytes([first]) + varint(len(body)) + body)

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                sys.exit("studio_client: the broker closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def packet(self):
        first = self.read(1)[0]
        n, shift = 0, 0
        while True:
            b = self.read(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first & 0xF0, self.read(n)

    def subscribe(self, topic):
        self.send(0x82, (1).to_bytes(2, "big") + utf8(topic) + b"\x00")
        kind, body = self.packet()
        if kind != 0x90 or body[2] != 0:
            sys.exit(f"studio_client: SUBSCRIBE {topic} refused")

    def publish(self, topic, payload):
        self.send(0x30, utf8(topic) + payload)

    def message(self):
        while True:
            kind, body = self.packet()
            if kind == 0x30:
                n = int.from_bytes(body[:2], "big")
                return body[2:2 + n].decode(), body[2 + n:]


def mqtt_device(a):
    m = Mqtt(a.port, a.certs, "device")
    m.subscribe(f"kos/{a.id}/cmd")
    print("ready", flush=True)
    while True:
        _, payload = m.message()
        cmd = json.loads(payload)
        m.publish(f"kos/{a.id}/result",
                  json.dumps({"id": cmd["id"], "status": 0, "message": ""}).encode())


def mqtt_rtt(a):
    m = Mqtt(a.port, a.certs, "commander")
    m.subscribe(f"kos/{a.id}/result")
    command = json.loads(a.command)
    times = []
    for i in range(a.n + WARMUP):
        t0 = time.perf_counter()
        m.publish(f"kos/{a.id}/cmd", json.dumps({**command, "id": i}).encode())
        while True:
            _, payload = m.message()
            r = json.loads(payload)
            if r["id"] == i:
                break
        t1 = time.perf_counter()
        if r["status"] != 0:
            sys.exit(f"studio_client: command {i} failed: {r}")
        if i >= WARMUP:
            times.append(t1 - t0)
    summary("mqtt", times)


def logs(a):
    ready = threading.Event()
    seen = {"n": 0, "dropped": 0, "first": None, "last": None}
    lock = threading.Lock()

    def on_event(kind, d):
        if kind != "log":
            return
        n = sum(1 for r in d["records"] if r["app"] == a.app and not r["console"])
        with lock:
            seen["dropped"] += d.get("dropped", 0)
            if n:
                t = time.perf_counter()
                seen["first"] = seen["first"] or t
                seen["last"] = t
                seen["n"] += n

    threading.Thread(target=events, args=(a, on_event, ready), daemon=True).start()
    if not ready.wait(10):
        sys.exit("studio_client: no event stream")
    print("ready", flush=True)
    start = time.perf_counter()
    while True:
        time.sleep(0.1)
        with lock:
            now = time.perf_counter()
            if seen["n"] >= a.n or (seen["last"] and now - seen["last"] > a.quiet):
                break
            if not seen["last"] and now - start > 120:
                sys.exit(f"studio_client: no record of {a.app} within 120 s")
    span = seen["last"] - seen["first"]
    print(f"logs stream n={seen['n']} dropped={seen['dropped']} "
          f"per_s={seen['n'] / span if span > 0 else 0:.0f} span_s={span:.3f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["rtt", "mqtt-rtt", "mqtt-device", "logs"])
    p.add_argument("--url")
    p.add_argument("--secret")
    p.add_argument("--device")
    p.add_argument("--port", type=int)
    p.add_argument("--certs")
    p.add_argument("--id", default="dev1")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--command", default='{"trace": {"app": "rng_server", "on": false}}')
    p.add_argument("--app", default="bench")
    p.add_argument("--quiet", type=float, default=5)
    a = p.parse_args()
    {"rtt": rtt, "mqtt-rtt": mqtt_rtt, "mqtt-device": mqtt_device, "logs": logs}[a.mode](a)


if __name__ == "__main__":
    main()
