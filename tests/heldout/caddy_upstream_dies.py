"""Run 4b: Caddy proxies 3 requests that its Node upstream never answers (/hang), then the
upstream is SIGKILLed: Caddy answers 502, its client-side series should end the 3 upstream
requests as connection_closed (or reset)."""

import collections
import http.client
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hl  # noqa: E402

UP, CADDY, AG = (int(x) for x in sys.argv[1:4])
up = subprocess.Popen(["node", "/tmp/hl/upstream.js", str(UP)])
cf = open("/tmp/hl/Caddyfile.tmpl").read().replace("CADDYPORT", str(CADDY)).replace("UPPORT", str(UP))
open(f"/tmp/hl/Caddyfile.{CADDY}", "w").write(cf)
caddy = subprocess.Popen(["caddy", "run", "--adapter", "caddyfile", "--config",
                          f"/tmp/hl/Caddyfile.{CADDY}"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
time.sleep(1.5)
agent = hl.start_agent(["--pid", str(caddy.pid)], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
counts = collections.Counter()
lock = threading.Lock()


def one(m, p):
    c = http.client.HTTPConnection("127.0.0.1", CADDY, timeout=30)
    c.request(m, p)
    r = c.getresponse(); r.read()
    with lock:
        counts[(m, p, str(r.status))] += 1


for _ in range(4):
    one("GET", "/ok")
ts = [threading.Thread(target=one, args=("GET", "/hang")) for _ in range(3)]
[t.start() for t in ts]
time.sleep(1.5)
up.send_signal(signal.SIGKILL)
[t.join() for t in ts]
time.sleep(1.5)
m = hl.summary(AG)
print("client:", dict(counts))
hl.show(m)
caddy.terminate(); caddy.wait(10)
agent.send_signal(signal.SIGINT); agent.wait(10)
