"""Minimal reproduction: a request dropped for a full pipeline queue (the 17th waiting)
shifts the pairing of the connection's later responses. 16 GET /ok plus GET /slow404 (Node
answers it 404 after 1 s) in one write, then GET /ok 0.3 s later on the same connection.
The client gets 17x200 and 1x404 (/slow404); the agent records GET /ok 404 (the 404 of
the dropped request paired with the 18th) and counts the 18th's 200 as unmatched.
Usage: repro_pipeline_shift.py SERVER_PORT AGENT_PORT"""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hl  # noqa: E402

PORT, AG = int(sys.argv[1]), int(sys.argv[2])
JS = """require('http').createServer((q, s) => {
  if (q.url === '/slow404') return setTimeout(() => { s.writeHead(404); s.end('no'); }, 1000);
  s.writeHead(200); s.end('ok');
}).listen(+process.argv[1], '127.0.0.1');"""
node = subprocess.Popen(["node", "-e", JS, str(PORT)])
time.sleep(1)
agent = hl.start_agent(["--pid", str(node.pid)], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
req = lambda p: f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode()  # noqa: E731
s = socket.create_connection(("127.0.0.1", PORT))
s.sendall(req("/ok") * 16 + req("/slow404"))
time.sleep(0.3)
s.sendall(req("/ok"))
time.sleep(1.5)
s.settimeout(1)
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except socket.timeout:
    pass
statuses = [ln.split()[1].decode() for ln in data.split(b"\r\n") if ln.startswith(b"HTTP/1.1 ")]
print("client got:", {st: statuses.count(st) for st in set(statuses)}, "(404 was /slow404)")
m = hl.summary(AG)
print("agent /metrics http_requests_total:", m["plugin"])
print("agent self:", {k.replace("otel_agent_", ""): v for k, v in m["self"].items()
                      if any(x in k for x in ("dropped", "unmatched", "responses_total"))})
bad = m["plugin"].get(("GET", "/ok", "404"), 0)
print("MISMATCH: GET /ok 404 recorded" if bad else "ok: no mislabelled response")
s.close()
node.terminate()
agent.send_signal(signal.SIGINT)
agent.wait(10)
sys.exit(1 if bad else 0)
