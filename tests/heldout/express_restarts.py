"""Run 2a: Express traced with --comm NAME (process.title), killed (SIGTERM) and started
again 5 times while a client sends traffic on fresh connections. Checks the answered
requests exactly, and that the kernel series maps hold only the live process's entries
a few seconds after the traffic."""

import collections
import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hl  # noqa: E402

PORT, AG = int(sys.argv[1]), int(sys.argv[2])
APP = "/tmp/hl/express/app.js"
NAME = "hlexp%d" % PORT
RESTARTS = 5
log = open(f"/tmp/hl/agent.{AG}.log", "w")
agent = hl.start_agent(["--comm", NAME], AG, log)
state = {"srv": None}


def start():
    state["srv"] = subprocess.Popen(["node", APP, str(PORT), NAME])


counts, failed = collections.Counter(), collections.Counter()
stop = threading.Event()
MIX = [("GET", "/api/items/%d", "/api/items/{id}"), ("POST", "/api/items", "/api/items"),
       ("GET", "/err", "/err"), ("GET", "/nothing", "/nothing")]


def client():
    rnd = random.Random(1)
    while not stop.is_set():
        m, p, r = rnd.choice(MIX)
        if "%d" in p:
            p = p % rnd.randrange(1, 10**6)
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        try:
            c.connect()
        except OSError:
            failed["refused"] += 1
            time.sleep(0.01)
            continue
        try:
            c.request(m, p, body=b"z" * 100 if m == "POST" else None)
            resp = c.getresponse()
            resp.read()
            counts[(m, r, str(resp.status))] += 1
        except (OSError, http.client.HTTPException) as e:
            failed[("after-connect", type(e).__name__)] += 1
        finally:
            c.close()


start()
time.sleep(1.0)
ts = [threading.Thread(target=client) for _ in range(3)]
[t.start() for t in ts]
pids = []
for i in range(RESTARTS):
    time.sleep(2.0)
    pids.append(state["srv"].pid)
    state["srv"].send_signal(signal.SIGTERM)
    state["srv"].wait()
    start()
time.sleep(2.0)
stop.set()
[t.join() for t in ts]
live = state["srv"].pid
pids.append(live)
print("server pids:", pids, "live:", live)
t_end = time.time()
time.sleep(1.0)
s = hl.summary(AG)
hl.compare(s, counts, failed, answered_only=True)
closed = {k: v for k, v in s["server"].items() if not k[2]}
print("otel unanswered series:", closed)
for wait in (3, 6, 10, 15):
    time.sleep(max(0, t_end + wait - time.time()))
    maps = hl.agent_maps(agent.pid)
    print(f"+{wait}s kernel maps by tgid:", {n: hl.tgids_in(e) for n, e in maps.items()})
state["srv"].send_signal(signal.SIGTERM)
state["srv"].wait()
agent.send_signal(signal.SIGINT)
agent.wait(10)
