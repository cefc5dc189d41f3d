"""Run 4: Express (traced with --comm) holds requests it never answers (/hang); the
server is SIGKILLed with them waiting. Each should become error_type="connection_closed"."""

import collections
import http.client
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hl  # noqa: E402

PORT, AG = int(sys.argv[1]), int(sys.argv[2])
NAME = "hlkill%d" % PORT
agent = hl.start_agent(["--comm", NAME], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
srv = subprocess.Popen(["node", "/tmp/hl/express/app.js", str(PORT), NAME])
time.sleep(1.5)
counts = collections.Counter()
socks = []
# 5 keep-alive connections: one answered request, then a hanging GET.
for i in range(5):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", f"/api/items/{i}")
    r = c.getresponse(); r.read()
    counts[("GET", "/api/items/{id}", str(r.status))] += 1
    c.sock.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(c.sock)
# 3 fresh connections with a hanging POST with a body.
for i in range(3):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(b"POST /hang HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    socks.append(s)
time.sleep(1.0)
pre = hl.summary(AG)
print("active before kill:", {k: v for k, v in pre["self"].items() if "requests_total" in k or "responses_total" in k})
srv.send_signal(signal.SIGKILL)
srv.wait()
for s in socks:
    s.settimeout(5)
    try:
        d = s.recv(100)
        counts[("hang", "closed" if not d else "data")] += 1
    except (ConnectionResetError, socket.timeout) as e:
        counts[("hang", type(e).__name__)] += 1
time.sleep(2)
m = hl.summary(AG)
print("client:", dict(counts))
hl.show(m)
got = {k: v for k, v in m["server"].items() if k[3] == "connection_closed"}
print("want 5x GET /hang + 3x POST /hang connection_closed; got", got)
ok = got == {("GET", "/hang", None, "connection_closed"): 5, ("POST", "/hang", None, "connection_closed"): 3}
print("matches:", ok)
agent.send_signal(signal.SIGINT)
agent.wait(10)
