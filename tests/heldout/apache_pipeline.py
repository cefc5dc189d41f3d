"""Run 3: Apache (mpm_event) with keep-alive, and pipelined requests from a raw-socket
client (DEPTH requests written at once, then DEPTH responses read), traced with --pid of
the Apache parent (its workers exist at start)."""

import collections
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hl  # noqa: E402
from drive import route  # noqa: E402

PORT, AG = int(sys.argv[1]), int(sys.argv[2])
DEPTHS = [int(x) for x in os.environ.get("DEPTHS", "1,4,8,16").split(",")]
BATCHES = int(os.environ.get("BATCHES", "10"))
CONNS = int(os.environ.get("CONNS", "3"))
if os.environ.get("SERVER") == "nginx":  # nginx master + 2 workers instead
    conf = f"/tmp/hl/nginx/nginx.{PORT}.conf"
    open(conf, "w").write(open("/tmp/hl/nginx/nginx.conf.tmpl").read().replace("PORT", str(PORT)))
    ap = subprocess.Popen(["nginx", "-c", conf])
else:
    conf = f"/tmp/hl/apache/httpd.{PORT}.conf"
    open(conf, "w").write(open("/tmp/hl/apache/httpd.conf.tmpl").read().replace("PORT", str(PORT)))
    ap = subprocess.Popen(["apache2", "-f", conf, "-DFOREGROUND"])
time.sleep(2)
agent = hl.start_agent(["--pid", str(ap.pid)], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
MIX = [("GET", "/index.html", b""), ("GET", "/big.txt", b""), ("GET", "/missing", b""),
       ("GET", "/boom", b""), ("HEAD", "/index.html", b""), ("POST", "/index.html", b"k=v" * 50),
       ("GET", "/items/12", b""), ("OPTIONS", "/index.html", b"")]
if os.environ.get("GETONLY"):
    MIX = [r for r in MIX if r[0] in ("GET", "HEAD")]
if os.environ.get("NOBOOM"):
    MIX = [r for r in MIX if r[1] != "/boom"]


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def take(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, method):
        status = int(self.line().split()[1])
        clen = 0
        while True:
            h = self.line()
            if not h:
                break
            k, v = h.split(b":", 1)
            if k.strip().lower() == b"content-length":
                clen = int(v)
            if k.strip().lower() == b"transfer-encoding":
                raise SystemExit("chunked not handled")
        if method != "HEAD" and status not in (204, 304):
            self.take(clen)
        return status


counts = collections.Counter()
print = __import__("functools").partial(print, flush=True)
conns = [Conn() for _ in range(CONNS)]
j = 0
for depth in DEPTHS:
    for b in range(BATCHES):
        c = conns[(b + depth) % CONNS]
        reqs = [MIX[(j + i) % len(MIX)] for i in range(depth)]
        j += depth
        wire = b"".join(
            f"{m} {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            for m, p, body in reqs)
        c.s.sendall(wire)
        for m, p, _ in reqs:
            try:
                counts[(m, route(p), str(c.response(m)))] += 1
            except (EOFError, ConnectionResetError):
                # Apache ends a keep-alive connection after a 500: the rest of the batch
                # has no answer; the server read it (lingering close), so it should be
                # connection_closed.
                counts[(m, route(p), "closed")] += 1
                c.eof = True
        if getattr(c, "eof", False):
            conns[(b + depth) % CONNS] = Conn()
    print(f"depth {depth}: sent {BATCHES} batches")
time.sleep(float(os.environ.get("SETTLE", "1.5")))
s = hl.summary(AG)
print("client counts (total %d):" % sum(counts.values()))
for k, v in sorted(counts.items()):
    print("  client-got", k, v)
hl.show(s)
answered = {k: v for k, v in counts.items() if k[2] != "closed"}
closed = {(m, r, "connection_closed"): v for (m, r, st), v in counts.items() if st == "closed"}
print("/metrics matches client (answered):", s["plugin"] == answered)
for k in sorted(set(answered) | set(s["plugin"]), key=str):
    if answered.get(k, 0) != s["plugin"].get(k, 0):
        print("  diff", k, "client", answered.get(k, 0), "agent", s["plugin"].get(k, 0))
print("/metrics errors connection_closed match client's unanswered:",
      {k: v for k, v in s["plugin_err"].items() if k[2] == "connection_closed"} == closed)
print("/metrics/otel matches client:",
      {(m, r, st or e): v for (m, r, st, e), v in s["server"].items()}
      == {**answered, **closed})
for c in conns:
    c.s.close()
ap.send_signal(signal.SIGTERM)
ap.wait(20)
agent.send_signal(signal.SIGINT)
agent.wait(10)
