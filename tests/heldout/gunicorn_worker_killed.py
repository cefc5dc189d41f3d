"""Run 4c: gunicorn (sync, 3 workers) traced with --pid of the master; 2 requests to /hang
occupy 2 workers, which are SIGKILLed (the master forks replacements). Each should be
connection_closed, and the killed workers' series leave the kernel map."""

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
g = subprocess.Popen(["/usr/bin/python3", "-m", "gunicorn", "--workers", "3", "--timeout", "300",
                      "-b", f"127.0.0.1:{PORT}", "--chdir", "/tmp/hl/gapp", "app:app"],
                     stderr=open(f"/tmp/hl/gunicorn.{PORT}.log", "w"))
time.sleep(3)
agent = hl.start_agent(["--pid", str(g.pid)], AG, open(f"/tmp/hl/agent.{AG}.log", "w"))
for i in range(6):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", "/a"); c.getresponse().read(); c.close()
socks = []
for i in range(2):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(s)
time.sleep(1.5)
# The workers holding /hang: the ones with an established connection from our client ports.
holders = set()
ports = {s.getsockname()[1] for s in socks}
out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{PORT} )"],
                     capture_output=True, text=True).stdout
for line in out.splitlines():
    if any(f":{p} " in line or line.split()[-2].endswith(f":{p}") for p in ports):
        holders |= {int(x.split("=")[1]) for x in line.split("pid")[1:] for x in ["pid" + x.split(",")[0]]}
print("holders:", holders)
for pid in holders:
    os.kill(pid, signal.SIGKILL)
for s in socks:
    s.settimeout(5)
    try:
        print("client: got", s.recv(100) or b"EOF")
    except OSError as e:
        print("client:", type(e).__name__)
time.sleep(7)
m = hl.summary(AG)
hl.show(m)
maps = hl.agent_maps(agent.pid)
kids = subprocess.run(["pgrep", "-P", str(g.pid)], capture_output=True, text=True).stdout.split()
print("live workers", kids, "kernel maps by tgid:", {n: hl.tgids_in(e) for n, e in maps.items()})
g.terminate(); g.wait(20)
agent.send_signal(signal.SIGINT); agent.wait(10)
