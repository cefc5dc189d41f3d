"""Run 2b: gunicorn + Flask, --workers 3 --max-requests 20 (a worker is replaced every 20
requests), traced with --pid of the master; 1200 requests over 3 routes from 4 client
threads. Checks exact totals, and that the kernel series maps hold only live workers'
entries a few seconds after the traffic."""

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

PORT, AG = int(sys.argv[1]), int(sys.argv[2])
N = int(os.environ.get("N", "1200"))
g = subprocess.Popen(["/usr/bin/python3", "-m", "gunicorn", "--workers", "3", "--max-requests",
                      "20", *os.environ.get("WORKER_ARGS", "").split(), "-b", f"127.0.0.1:{PORT}", "--chdir", "/tmp/hl/gapp", "app:app"],
                     stderr=open(f"/tmp/hl/gunicorn.{PORT}.log", "w"))
time.sleep(3)
agent = hl.start_agent(["--pid", str(g.pid)], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
counts, failed = collections.Counter(), collections.Counter()
lock = threading.Lock()
MIX = [("GET", "/a", "/a"), ("GET", "/b/%d", "/b/{id}"), ("POST", "/b/%d", "/b/{id}"),
       ("GET", "/c", "/c")]


KEEPALIVE = bool(os.environ.get("KEEPALIVE"))


def client(k):
    c = None
    for i in range(k, N, 4):
        m, p, r = MIX[(i // 4 + k) % len(MIX)]
        if "%d" in p:
            p = p % (i + 1)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        try:
            c.request(m, p, body=b"q" * 200 if m == "POST" else None)
            resp = c.getresponse()
            resp.read()
            with lock:
                counts[(m, r, str(resp.status))] += 1
            if resp.will_close or not KEEPALIVE:
                c.close()
                c = None
        except (OSError, http.client.HTTPException) as e:
            with lock:
                failed[(type(e).__name__, m, r)] += 1
            c.close()
            c = None


ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
t_end = time.time()
time.sleep(1)
s = hl.summary(AG)
hl.compare(s, counts, failed)
for wait in (3, 6, 10, 15):
    time.sleep(max(0, t_end + wait - time.time()))
    kids = subprocess.run(["pgrep", "-P", str(g.pid)], capture_output=True, text=True).stdout.split()
    maps = hl.agent_maps(agent.pid)
    print(f"+{wait}s live workers {sorted(map(int, kids))} kernel maps by tgid:",
          {n: hl.tgids_in(e) for n, e in maps.items()})
print("target_info now:", hl.summary(AG)["targets"], "master", g.pid)
g.send_signal(signal.SIGTERM)
g.wait(20)
agent.send_signal(signal.SIGINT)
agent.wait(10)
