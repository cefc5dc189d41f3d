"""Run 1: Caddy as a reverse proxy to a Node upstream whose keep-alive connections (and one
client connection to Caddy) are open before the agent attaches with --pid of caddy.
Prints the client's counts and both endpoints' counts."""

import collections
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive  # noqa: E402
import hl  # noqa: E402

UP, CADDY, AG = (int(x) for x in (sys.argv[1:4] if len(sys.argv) > 3 else (18611, 18612, 18613)))
WARM = int(os.environ.get("WARM", "20"))
ROUNDS = int(os.environ.get("ROUNDS", "25"))
tmp = "/tmp/hl"
procs = []
try:
    up = subprocess.Popen(["node", f"{tmp}/upstream.js", str(UP)])
    procs.append(up)
    cf = open(f"{tmp}/Caddyfile.tmpl").read().replace("CADDYPORT", str(CADDY)).replace("UPPORT", str(UP))
    open(f"{tmp}/Caddyfile.{CADDY}", "w").write(cf)
    caddy = subprocess.Popen(["caddy", "run", "--adapter", "caddyfile", "--config",
                              f"{tmp}/Caddyfile.{CADDY}"], stdout=subprocess.DEVNULL,
                             stderr=open(f"{tmp}/caddy.{CADDY}.log", "w"))
    procs.append(caddy)
    time.sleep(1.5)
    # Warm: open Caddy's upstream pool (concurrent conns so several upstream conns exist).
    import threading
    pres = []
    def w():
        pres.append(drive.drive(CADDY, WARM, conns=1))
    ts = [threading.Thread(target=w) for _ in range(int(os.environ.get("WARM_THREADS", "4")))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    pre = [c for _, cs in pres for c in cs]
    print("warm-up (before the agent):", sum(sum(x.values()) for x, _ in pres), "requests")
    est = subprocess.run(["ss", "-tnH", "state", "established", f"( dport = :{UP} )"],
                         capture_output=True, text=True).stdout.strip().splitlines()
    print("caddy->upstream connections open before attach:", len(est))
    agent = hl.start_agent(["--pid", str(caddy.pid)], AG, open(f"{tmp}/agent.{AG}.log", "w"))
    procs.append(agent)
    time.sleep(1)
    counts = collections.Counter()
    # Traffic on the client connections that were already open (server side pre-existing too)...
    drive.drive(CADDY, ROUNDS, conns=1, counts=counts)  # fresh
    def on_pre(c, got):  # concurrently, so Caddy needs all its pooled upstream conns
        for _ in range(5):
            for m, p, body in drive.MIX:
                c.request(m, p, body=body or None)
                r = c.getresponse(); r.read()
                got[(m, drive.route(p), str(r.status))] += 1
    gots = [collections.Counter() for _ in pre]
    ts = [threading.Thread(target=on_pre, args=(c, g)) for c, g in zip(pre, gots)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for g in gots:
        counts.update(g)
    # ...and new connections, some closed every 5 requests.
    drive.drive(CADDY, ROUNDS, conns=4, counts=counts, new_conn_every=5)
    time.sleep(2)
    s = hl.summary(AG)
    print("client counts (total %d):" % sum(counts.values()))
    for k, v in sorted(counts.items()):
        print("  client-got", k, v)
    hl.show(s)
    srv = {(m, p, st): v for (m, p, st), v in s["plugin"].items()}
    print("server /metrics matches client:", srv == dict(counts))
    otel = {(m, p, st): v for (m, p, st, e), v in s["server"].items()}
    print("server /metrics/otel matches client:", otel == dict(counts))
    byms = collections.Counter()
    for (m, p, st), v in counts.items():
        byms[(m, "127.0.0.1", str(UP), st, st if int(st) >= 400 else None)] += v
    print("client series (caddy->upstream) matches:", s["client"] == dict(byms))
    if s["client"] != dict(byms):
        print("  want", dict(byms))
finally:
    for p in reversed(procs):
        p.send_signal(signal.SIGINT if p is procs[-1] else signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
