#!/usr/bin/env python3
"""Churn run (tests/soak/churn.sh): the agent with small maps through worker
recycling, a path flood, a route first seen after it and dev-server
restarts; then every count compared with the client's, the kernel maps'
entry counts against their bounds, the drop and error counters and the
agent's memory. Prints the table, exits 0 (pass), 1 (fail) or 2 (setup).

  python3 tests/soak/churn.py --agent ./otel-agent RUNDIR   # as root

Settings come from the environment (CHURN_*, see docs/soak.md).
"""

import argparse
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from selftests.lib.checks import TestFailure  # noqa: E402
from selftests.lib.procs import Procs, agent_stderr, expect, free_port  # noqa: E402
from selftests.lib.scrape import parse_prom, scrape, series, total  # noqa: E402
import compare  # noqa: E402
import kmaps  # noqa: E402

SERVER = os.path.join(HERE, "churn_server.js")
PLUGIN = ("/metrics", "http_requests_total", ("method", "path", "status"))
OTEL = ("/metrics/otel", "http_server_request_duration_seconds_count",
        ("http_request_method", "http_route", "http_response_status_code"))
OVERFLOW = "otel_metric_overflow"
AFTER_ROUTE = "/after-flood"
STOP = threading.Event()  # set when the run ends early: the clients stop


def env_int(name, default, low=0):
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < low:
        raise TestFailure(f"{name} must be a whole number of at least {low}, got {raw!r}")
    return int(raw)


class Settings:
    def __init__(self):
        self.seconds = env_int("CHURN_SECONDS", 120, 10)
        self.max_series = env_int("CHURN_MAX_SERIES", 512, 1)
        self.per_target = env_int("CHURN_MAX_SERIES_PER_TARGET", 50, 1)
        self.max_conns = env_int("CHURN_MAX_CONNECTIONS", 1024, 1)
        self.workers = env_int("CHURN_WORKERS", 3, 1)
        self.max_requests = env_int("CHURN_MAX_REQUESTS", 8, 1)
        self.clients = env_int("CHURN_CLIENTS", 4, 1)
        self.flood = env_int("CHURN_FLOOD", 100 * self.max_series, 1)
        self.after = env_int("CHURN_AFTER", 300, 1)
        self.restarts = env_int("CHURN_RESTARTS", 20, 1)
        self.dev_requests = env_int("CHURN_DEV_REQUESTS", 30, 1)
        self.sample = env_int("CHURN_SAMPLE", 3, 1)
        self.settle = env_int("CHURN_SETTLE", 1, 0)
        self.rss_margin = env_int("CHURN_RSS_MARGIN_KIB", 1024)


# -- the client ------------------------------------------------------------------

class Counts:
    """What the client got back: {(method, route, status): responses}, and the
    requests it sent that got no response (by kind)."""

    def __init__(self):
        self.ok = {}
        self.failed = {}
        self.refused = 0  # connects refused: nothing was sent, the request is retried

    def add(self, other):
        self.ok = compare.add(self.ok, other.ok)
        self.failed = compare.add(self.failed, other.failed)
        self.refused += other.refused

    def answered(self):
        return sum(self.ok.values())


class Conn:
    """One HTTP/1.1 connection to 127.0.0.1:port, request after request."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _connect(self, counts):
        for _ in range(500):  # a cluster between two workers refuses for a moment
            if STOP.is_set():
                raise SystemExit(130)
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", self.port))
                self.sock = s
                return
            except ConnectionRefusedError:
                s.close()
                counts.refused += 1
                time.sleep(0.01)
        raise ConnectionRefusedError(f"127.0.0.1:{self.port} refused 500 times")

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response headers")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split()[1]
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value == "close":
                close = True
        while len(self.buf) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in the response body")
            self.buf += chunk
        self.buf = self.buf[length:]
        return status, close

    def request(self, counts, method, path, route, keep_alive):
        """Send one request and read its response; counts the response under
        (method, route, status), or a failure under (method, route, kind)."""
        if not self.sock:
            self._connect(counts)
        body = b"{}" if method in ("POST", "PUT") else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\n"
                + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
        try:
            self.sock.sendall(head.encode() + body)
            status, close = self._read_response()
        except (OSError, ValueError, IndexError) as e:
            key = (method, route, type(e).__name__)
            counts.failed[key] = counts.failed.get(key, 0) + 1
            self.close()
            return
        key = (method, route, status)
        counts.ok[key] = counts.ok.get(key, 0) + 1
        if close or not keep_alive:
            self.close()


def run_clients(n, work):
    """work(i, counts) in n threads; returns the merged Counts. A client that
    could not go on (a server refusing for good) is a setup error."""
    per = [Counts() for _ in range(n)]
    errors = []

    def client(i):
        try:
            work(i, per[i])
        except Exception as e:  # noqa: BLE001 (any: reported, then the run stops)
            errors.append(f"client {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise TestFailure("; ".join(errors))
    out = Counts()
    for c in per:
        out.add(c)
    return out


# (method, path pattern, route the agent must name it): {n} is the request number.
RECYCLE_MIX = (
    ("GET", "/shop/cart", "/shop/cart"),
    ("GET", "/shop/items/{n}", "/shop/items/{id}"),
    ("POST", "/shop/orders", "/shop/orders"),
    ("GET", "/nope/shop?q={n}", "/nope/shop"),
    ("GET", "/boom/shop", "/boom/shop"),
)
DEV_MIX = (
    ("GET", "/dev/page", "/dev/page"),
    ("PUT", "/dev/api/items/{n}", "/dev/api/items/{id}"),
    ("GET", "/nope/dev", "/nope/dev"),
)


def flood_path(rng):
    """A path of letters only ('w' first: never long hex), so the agent keeps it
    as it is: each one a new series."""
    return "/flood/w" + "".join(rng.choice(string.ascii_lowercase) for _ in range(11))


# -- samples of the agent --------------------------------------------------------

class Sampler(threading.Thread):
    """Every `every` s: the agent's VmRSS and CPU ticks (rss.tsv, as run.sh)
    and its kernel hash maps' entries (maps.tsv: t, phase, map, entries,
    max_entries); every 10 s a scrape of both endpoints (scrapes.tsv)."""

    def __init__(self, rundir, agent_pid, base, every, t0):
        super().__init__(daemon=True)
        self.rundir, self.pid, self.base, self.every, self.t0 = rundir, agent_pid, base, every, t0
        self.phase = "start"
        self.stop = threading.Event()

    def t(self):
        return time.monotonic() - self.t0

    def rss_sample(self):
        rss = ticks = ""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                rss = next((l.split()[1] for l in f if l.startswith("VmRSS:")), "")
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                ticks = str(int(fields[11]) + int(fields[12]))
        except OSError:
            pass
        with open(os.path.join(self.rundir, "rss.tsv"), "a") as f:
            f.write(f"{self.t():.1f}\t{rss}\t{ticks}\n")

    def maps_sample(self):
        t, phase = self.t(), self.phase
        try:
            got = kmaps.counts(self.pid)
        except (OSError, RuntimeError, subprocess.SubprocessError, ValueError):
            return
        with open(os.path.join(self.rundir, "maps.tsv"), "a") as f:
            for name, (n, mx) in got.items():
                f.write(f"{t:.1f}\t{phase}\t{name}\t{'?' if n is None else n}\t{mx}\n")

    def scrape_sample(self):
        with open(os.path.join(self.rundir, "scrapes.tsv"), "a") as f:
            for ep in ("/metrics", "/metrics/otel"):
                start = time.monotonic()
                status, _, _ = scrape(self.base + ep, timeout=5.0)
                f.write(f"{self.t():.1f}\t{ep}\t{status or '000'}\t"
                        f"{time.monotonic() - start:.4f}\n")

    def run(self):
        i, next_scrape = 0, 10.0
        while not self.stop.is_set():
            self.rss_sample()
            self.maps_sample()
            if self.t() >= next_scrape:
                self.scrape_sample()
                next_scrape += 10.0
            i += 1
            self.stop.wait(max(0.0, i * self.every - self.t()))


# -- the run -----------------------------------------------------------------------

def scrape_both(base, rundir, tag, want_total):
    """Both endpoints, scraped until their series sum to want_total, at most 4
    times a second apart: the agent reads the kernel when it is scraped, so
    a short count is not a matter of waiting, but a loaded machine may have
    a response still in flight."""
    for attempt in range(4):
        got = {}
        for ep, name, _ in (PLUGIN, OTEL):
            status, _, body = scrape(base + ep, timeout=10.0)
            if status != 200:
                raise TestFailure(f"scrape {ep} after {tag}: HTTP {status}: {body[:80]}")
            got[ep] = (parse_prom(body), body)
        if all(total(got[ep][0], name) >= want_total for ep, name, _ in (PLUGIN, OTEL)):
            break
        time.sleep(1)
    for ep, suffix in (("/metrics", "metrics"), ("/metrics/otel", "otel")):
        with open(os.path.join(rundir, f"{tag}.{suffix}"), "w") as f:
            f.write(got[ep][1])


def start_agent(procs, s, pids, comm):
    extra = ["--comm", comm, "--feature-otel=true", "--max-series", str(s.max_series),
             "--max-series-per-target", str(s.per_target),
             "--max-connections", str(s.max_conns)]
    agent, base, _ = procs.agent(pids, extra)
    return agent, base, extra


def phase_recycle(s, port, deadline):
    def work(i, counts):
        conn, n = Conn(port), i
        while time.monotonic() < deadline and not STOP.is_set():
            method, pattern, route = RECYCLE_MIX[n % len(RECYCLE_MIX)]
            conn.request(counts, method, pattern.format(n=n), route, keep_alive=False)
            n += s.clients
    return run_clients(s.clients, work)


def phase_flood(s, port, seed):
    def work(i, counts):
        rng = random.Random(seed * 1000 + i)
        conn = Conn(port)
        for _ in range(s.flood // s.clients + (i < s.flood % s.clients)):
            if STOP.is_set():
                break
            p = flood_path(rng)
            conn.request(counts, "GET", p, p, keep_alive=True)
        conn.close()
    return run_clients(s.clients, work)


def phase_after(s, port):
    counts, conn = Counts(), Conn(port)
    for _ in range(s.after):
        conn.request(counts, "GET", AFTER_ROUTE, AFTER_ROUTE, keep_alive=False)
    return counts


def phase_dev(s, procs, comm, dev_pids):
    counts, n = Counts(), 0
    for _ in range(s.restarts):
        port = free_port()
        p = procs.spawn(["node", SERVER, "single", str(port), comm], stdout=subprocess.PIPE,
                        start_new_session=True)
        expect(p, "listening")
        dev_pids.append(p.pid)
        conn = Conn(port)
        for _ in range(s.dev_requests):
            method, pattern, route = DEV_MIX[n % len(DEV_MIX)]
            conn.request(counts, method, pattern.format(n=n), route, keep_alive=False)
            n += 1
        p.terminate()  # as a dev server's reloader does
        p.wait(10)
    return counts


def collect_workers(proc, pids):
    """Worker pids from the cluster's 'worker PID' lines, until its stdout ends."""
    buf = proc.line_buf
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"worker "):
                pids.add(int(line.split()[1]))
        try:
            chunk = os.read(proc.stdout.fileno(), 4096)
        except (OSError, ValueError):
            return
        if not chunk:
            return
        buf += chunk


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agent", required=True)
    ap.add_argument("rundir")
    args = ap.parse_args()
    rundir = args.rundir
    os.environ["OTEL_AGENT"] = args.agent

    def interrupted(sig, _frame):
        print("churn: terminated", file=sys.stderr)
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, interrupted)

    s = Settings()
    comm = ("churndev" + "".join(random.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(7)))[:15]
    seed = random.randrange(1 << 30)
    result = {"settings": vars(s), "comm": comm, "seed": seed, "phases": []}
    with Procs() as procs:
        sampler = agent = None
        try:
            cport, fport = free_port(), free_port()
            while fport == cport:
                fport = free_port()
            cluster = procs.spawn(["node", SERVER, "cluster", str(cport), str(s.workers),
                                   str(s.max_requests)], stdout=subprocess.PIPE,
                                  start_new_session=True)
            _, before = expect(cluster, "listening")
            workers = {int(l.split()[1]) for l in before if l.startswith("worker ")}
            flood = procs.spawn(["node", SERVER, "single", str(fport)], stdout=subprocess.PIPE,
                                start_new_session=True)
            expect(flood, "listening")
            agent, base, extra = start_agent(procs, s, [cluster.pid, flood.pid], comm)
            reader = threading.Thread(target=collect_workers, args=(cluster, workers),
                                      daemon=True)
            reader.start()
            t0 = time.monotonic()
            version = subprocess.run([args.agent, "--version"], capture_output=True,
                                     text=True).stdout.strip().splitlines()
            result.update({
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "kernel": os.uname().release, "nproc": os.cpu_count(),
                "clk_tck": os.sysconf("SC_CLK_TCK"),
                "agent_version": version[0] if version else "?",
                "agent_args": extra, "agent_pid": agent.pid,
                "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
                "other_agents": len(subprocess.run(["pgrep", "-x", "otel-agent"],
                                                   capture_output=True, text=True)
                                    .stdout.split()) - 1,
            })
            for ep in ("/metrics", "/metrics/otel"):  # first-scrape allocations, as run.sh
                scrape(base + ep, timeout=10.0)
            sampler = Sampler(rundir, agent.pid, base, s.sample, t0)
            sampler.start()
            print(f"churn: agent pid {agent.pid} on {base} {' '.join(extra)}; cluster pid "
                  f"{cluster.pid} on :{cport}, flood target pid {flood.pid} on :{fport}, "
                  f"dev servers --comm {comm}; run directory {rundir}", flush=True)

            total_counts = Counts()

            def phase(tag, title, fn):
                print(f"churn: phase {tag}: {title}", flush=True)
                sampler.phase = tag
                start = time.monotonic()
                c = fn()
                secs = time.monotonic() - start
                total_counts.add(c)
                time.sleep(s.settle)
                scrape_both(base, rundir, tag, total_counts.answered())
                result["phases"].append({
                    "tag": tag, "title": title, "seconds": secs,
                    "answered": c.answered(), "failed": sum(c.failed.values()),
                    "failures": {" ".join(k): v for k, v in c.failed.items()},
                    "refused": c.refused, "want": [[*k, v] for k, v in c.ok.items()],
                    "t_end": time.monotonic() - t0,
                })
                return c

            phase("recycle", f"workers recycling every {s.max_requests}-"
                  f"{2 * s.max_requests - 1} requests, {s.clients} clients, {s.seconds} s",
                  lambda: phase_recycle(s, cport, time.monotonic() + s.seconds))
            phase("flood", f"{s.flood} distinct paths against one process",
                  lambda: phase_flood(s, fport, seed))
            phase("after", f"{AFTER_ROUTE} {s.after} times on the flooded process",
                  lambda: phase_after(s, fport))
            dev_pids = []
            phase("dev", f"{s.restarts} restarts of a --comm {comm} server, "
                  f"{s.dev_requests} requests each",
                  lambda: phase_dev(s, procs, comm, dev_pids))
            result["dev_pids"] = dev_pids
            result["workers_seen"] = len(workers)
            sampler.phase = "end"
            # One more round of samples after the last scrape, as run.sh.
            time.sleep(s.sample)
        except TestFailure as e:
            print(f"churn: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("churn: interrupted", file=sys.stderr)
            return 130
        finally:
            STOP.set()
            if sampler:
                sampler.stop.set()
                sampler.join(30)
                sampler.rss_sample()
                sampler.maps_sample()
            if agent:
                with open(os.path.join(rundir, "agent.log"), "w") as f:
                    f.write(agent_stderr(agent))
            for p in procs.procs:  # the servers' process groups: workers and all
                if p.poll() is None and p is not agent:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
        with open(os.path.join(rundir, "run.json"), "w") as f:
            json.dump(result, f, indent=1)
    return verdict(rundir)


# -- the verdict -----------------------------------------------------------------

def split_overflow(metrics, name, keys):
    """({key: count} of the series with a route, count in the overflow series)."""
    own = {k: v for k, v in series(metrics, name, keys + (OVERFLOW,)).items() if k[-1] != "true"}
    own = {k[:-1]: v for k, v in own.items()}
    over = series(metrics, name, (OVERFLOW,)).get(("true",), 0)
    return own, over


def compare_counts(want, metrics, ep, name, keys):
    """One endpoint against the client: a series with a route must equal the
    client's count; what has no series of its own must be in the overflow
    series, exactly. Returns (problem or None, own, overflow)."""
    own, over = split_overflow(metrics, name, keys)
    diffs = [f"{' '.join(k)}: want {want.get(k, 0)} got {own[k]:g}"
             for k in sorted(own, key=str) if own[k] != want.get(k, 0)]
    folded = sum(v for k, v in want.items() if k not in own)
    if over != folded:
        diffs.append(f"overflow series: want {folded} (the responses of "
                     f"{sum(1 for k in want if k not in own)} label sets without a series of "
                     f"their own) got {over:g}")
    if not diffs:
        return None, own, over
    more = f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""
    got = sum(own.values()) + over
    return (f"{ep} {name}: {got:g} of {sum(want.values())} responses; "
            + "; ".join(diffs[:3]) + more), own, over


def verdict(rundir):
    with open(os.path.join(rundir, "run.json")) as f:
        run = json.load(f)
    st = run["settings"]
    failures, out = [], []
    p = out.append
    want = {}
    got_sum = {}
    own_final = over_final = None
    over_by_phase = {}
    for ph in run["phases"]:
        want = compare.add(want, {tuple(w[:3]): w[3] for w in ph["want"]})
        for ep, name, keys in (PLUGIN, OTEL):
            suffix = "metrics" if ep == "/metrics" else "otel"
            with open(os.path.join(rundir, f"{ph['tag']}.{suffix}")) as f:
                m = parse_prom(f.read())
            prob, own, over = compare_counts(want, m, ep, name, keys)
            if prob:
                failures.append(f"after phase {ph['tag']}: {prob}")
            got_sum[(ph["tag"], ep)] = sum(own.values()) + over
            over_by_phase[(ph["tag"], ep)] = over
            if ep == "/metrics":
                own_final, over_final = own, over
                for cname in ("otel_agent_responses_total",):
                    g = total(m, cname)
                    w = sum(want.values())
                    if g != w:
                        failures.append(f"after phase {ph['tag']}: {ep} {cname}: want {w} "
                                        f"(client's responses) got {g:g}")
            last_metrics = m
        if ph["failed"]:
            failures.append(f"client, phase {ph['tag']}: {ph['failed']} requests sent got no "
                            f"response ({ph['failures']})")

    p(f"churn run {run.get('date', '?')}: {run.get('agent_version', '?')}, kernel "
      f"{run.get('kernel', '?')}, {run.get('nproc', '?')} CPUs; agent "
      f"{' '.join(run.get('agent_args', []))}")
    p(f"machine at start: load average {run.get('loadavg', '?')}, "
      f"{run.get('other_agents', '?')} other otel-agent processes running")
    p("")
    hdr = (f"{'phase':<8} {'s':>6} {'answered':>9} {'failed':>6} {'/metrics':>9} {'diff':>6} "
           f"{'otel':>9} {'diff':>6} {'overflow':>9}  what")
    p(hdr)
    p("-" * (len(hdr) + 40))
    cum = 0
    prev = {"/metrics": 0, "/metrics/otel": 0}
    for ph in run["phases"]:
        cum += ph["answered"]
        gp, go = got_sum[(ph["tag"], "/metrics")], got_sum[(ph["tag"], "/metrics/otel")]
        dp, do = gp - prev["/metrics"], go - prev["/metrics/otel"]
        prev = {"/metrics": gp, "/metrics/otel": go}
        p(f"{ph['tag']:<8} {ph['seconds']:>6.1f} {ph['answered']:>9} {ph['failed']:>6} "
          f"{dp:>9.0f} {dp - ph['answered']:>+6.0f} {do:>9.0f} {do - ph['answered']:>+6.0f} "
          f"{over_by_phase[(ph['tag'], '/metrics')]:>9.0f}  {ph['title']}")
    p(f"{'total':<8} {sum(x['seconds'] for x in run['phases']):>6.1f} {cum:>9} "
      f"{sum(x['failed'] for x in run['phases']):>6} {prev['/metrics']:>9.0f} "
      f"{prev['/metrics'] - cum:>+6.0f} {prev['/metrics/otel']:>9.0f} "
      f"{prev['/metrics/otel'] - cum:>+6.0f}")
    p("(/metrics, otel: what the series gained in the phase, the overflow series included; "
      "overflow: the overflow series on /metrics after the phase)")
    p(f"processes: {run.get('workers_seen', '?')} cluster workers came and went, "
      f"{len(run.get('dev_pids', []))} dev-server generations; connects refused and retried: "
      f"{sum(x['refused'] for x in run['phases'])}")
    if run.get("workers_seen", 0) <= st["workers"]:
        failures.append(f"setup: no cluster worker was recycled ({run.get('workers_seen')} "
                        f"seen for {st['workers']} at a time)")
    p("")

    # Routes other than the flood's, and where the flood went.
    p("label sets (final scrape, /metrics; /metrics/otel is compared the same way):")
    flood_keys = [k for k in want if k[1].startswith("/flood/")]
    for k in sorted((k for k in want if not k[1].startswith("/flood/")), key=str):
        where = f"{own_final[k]:>7.0f}" if k in own_final else "  (none: overflow or lost)"
        p(f"  {' '.join(k):<34} client {want[k]:>7}  series {where}")
    fl_own = sum(1 for k in flood_keys if k in own_final)
    p(f"  flood: {len(flood_keys)} distinct paths, {fl_own} with a series of their own, "
      f"{len(flood_keys) - fl_own} without; overflow series {over_final:.0f}")

    # The route first seen after the flood.
    ak = next((k for k in want if k[1] == AFTER_ROUTE), None)
    if ak and ("flood", "/metrics") in over_by_phase:
        d_over = {ep: over_by_phase[("after", ep)] - over_by_phase[("flood", ep)]
                  for ep in ("/metrics", "/metrics/otel")}
        if ak in own_final and own_final[ak] == want[ak]:
            where = f"in its own series ({own_final[ak]:.0f})"
        elif ak not in own_final and all(v == want[ak] for v in d_over.values()):
            where = (f"in the overflow series (it grew by {d_over['/metrics']:.0f} on /metrics, "
                     f"{d_over['/metrics/otel']:.0f} on /metrics/otel during the phase)")
        else:
            where = (f"NOT COUNTED: own series {own_final.get(ak, 0):.0f}, overflow grew by "
                     f"{d_over['/metrics']:.0f} (/metrics) and {d_over['/metrics/otel']:.0f} "
                     f"(/metrics/otel)")
            failures.append(f"{AFTER_ROUTE} ({want[ak]} responses): {where}")
        p(f"{AFTER_ROUTE} (first seen after the flood), {want[ak]} responses: {where}")
    p("")

    # Kernel maps against their bounds, every sample.
    rows = compare.read_tsv(os.path.join(rundir, "maps.tsv"))
    peaks, nsamples = {}, len({r[0] for r in rows})
    for r in rows:
        if len(r) < 5 or not r[3].isdigit():
            continue
        t, phase, name, n, mx = float(r[0]), r[1], r[2], int(r[3]), int(r[4])
        pk = peaks.setdefault(name, {"max": mx, "peak": -1, "at": "", "last": n, "full": 0})
        pk["last"] = n
        if n >= mx:
            pk["full"] += 1
        if n > pk["peak"]:
            pk["peak"], pk["at"] = n, f"{t:.0f} s ({phase})"
    p(f"kernel hash maps ({nsamples} samples, every {st['sample']} s; a map at its "
      "max_entries refuses new entries):")
    p(f"  {'map':<14} {'max_entries':>11} {'peak':>7} {'at':<18} {'last':>6} {'full':>5}")
    for name, pk in peaks.items():
        p(f"  {name:<14} {pk['max']:>11} {pk['peak']:>7} {pk['at']:<18} {pk['last']:>6} "
          f"{pk['full']:>5}")
        if pk["full"]:
            failures.append(f"kernel map {name}: at its bound ({pk['max']} entries) in "
                            f"{pk['full']} of {nsamples} samples, first peak at {pk['at']}")
    if nsamples < 3:
        failures.append(f"kernel maps: want at least 3 samples got {nsamples}")
    p("")

    # Drop and error counters, final scrape.
    p("agent counters (final scrape, /metrics):")
    for name in ("otel_agent_requests_total", "otel_agent_responses_total"):
        p(f"  {name} {total(last_metrics, name):.0f} (client: {cum} responses)")
    mue = series(last_metrics, "otel_agent_map_update_errors_total", ("map",))
    if "otel_agent_map_update_errors_total" not in last_metrics:
        failures.append("otel_agent_map_update_errors_total: want present got missing")
    for (mp,), v in sorted(mue.items(), key=str):
        p(f"  otel_agent_map_update_errors_total{{map=\"{mp}\"}} {v:g}")
        if v:
            failures.append(f"otel_agent_map_update_errors_total{{map=\"{mp}\"}}: want 0 "
                            f"got {v:g}")
    for name in ("otel_agent_requests_dropped_total", "otel_agent_unmatched_responses_total"):
        v = total(last_metrics, name)
        p(f"  {name} {v:g}")
        if v:
            failures.append(f"{name}: want 0 got {v:g}")
    for name in ("otel_agent_connection_errors_total", "otel_agent_series_overflowed_total",
                 "otel_agent_stale_connections_reclaimed_total",
                 "otel_agent_not_http_connections_total", "otel_agent_paths_truncated_total"):
        if name in last_metrics:
            p(f"  {name} {total(last_metrics, name):g} (information)")

    # Memory, and the scrapes during the run.
    rss = compare.read_rss(os.path.join(rundir, "rss.tsv"))
    p(f"agent RSS (KiB, every {st['sample']} s, {len(rss)} samples): "
      f"{compare.rss_check(rss, st['rss_margin'], failures)}")
    at_end = []
    for ph in run["phases"]:
        before = [r for r in rss if r[0] <= ph["t_end"]]
        if before:
            at_end.append(f"{ph['tag']} {before[-1][1]}")
    p(f"  at the end of each phase: {', '.join(at_end)}")
    cpu = compare.cpu_note(rss, run.get("clk_tck", 100))
    scr = compare.read_tsv(os.path.join(rundir, "scrapes.tsv"))
    bad = [r for r in scr if len(r) < 4 or r[2] != "200"]
    secs = [float(r[3]) for r in scr if len(r) >= 4]
    p(f"scrapes of /metrics and /metrics/otel every 10 s: {len(scr)}, "
      f"{len(scr) - len(bad)} answered 200"
      + (f", slowest {max(secs) * 1000:.1f} ms" if secs else ""))
    for r in bad:
        failures.append(f"scrape during the run at {r[0]} s of {r[1]}: HTTP {r[2]}")
    if cpu:
        p(cpu)
    p("")
    if failures:
        p(f"RESULT: FAIL ({len(failures)} problems)")
        for f in failures[:40]:
            p(f"  - {f}")
        if len(failures) > 40:
            p(f"  ... and {len(failures) - 40} more (summary.txt has them all)")
    else:
        p("RESULT: PASS (every response counted on both endpoints, the route after the flood "
          "too; kernel maps under their bounds; no drops, no map update errors; memory flat)")
    text = "\n".join(out)
    print(text)
    with open(os.path.join(rundir, "summary.txt"), "w") as f:
        f.write(text + "\n")
        for x in failures[40:]:
            f.write(f"  - {x}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--verdict":
        sys.exit(verdict(sys.argv[2]))
    sys.exit(main())
