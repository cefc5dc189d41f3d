"""otel-agent top: the table of a target's requests by method and route,
as one plain table (--once), as JSON (--json), and interactive under tmux
(keys sort, q quits): exact totals, error shares, quantiles in the bucket
the durations fell in.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

from selftests.lib.checks import TestFailure, check, check_eq
from selftests.lib.client import MIX, Client, drive
from selftests.lib.endpoints import OTEL_DUR
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, agent_path
from selftests.lib.scrape import parse_prom, scrape, scrape_until

SLOW = 2  # more GET /slow (answered after 60 ms) than MIX's: /slow stays below /hello
DELAY_S = 6  # --once: long enough for the traffic after attach, on a loaded machine
STARTED = "top: a table every"  # logged as the first interval starts


def _want_rows():
    """(method, route) -> (total, 4xx, 5xx) of MIX plus the SLOW more /slow."""
    want = {}
    for method, _, _, route, status in MIX + [("GET", "/slow", None, "/slow", "200")] * SLOW:
        t, a, b = want.get((method, route), (0, 0, 0))
        want[(method, route)] = (t + 1, a + status.startswith("4"), b + status.startswith("5"))
    return want


def _start_top(procs, pid, *args):
    """otel-agent top on pid with args, stdout and stderr to files; returns
    (Popen, stdout file, stderr file) once its first interval has started."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = procs.spawn([agent_path(), "top", "--pid", str(pid)] + list(args),
                    stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        err.seek(0)
        text = err.read().decode(errors="replace")
        if STARTED in text:
            return p, out, err
        if p.poll() is not None:
            raise TestFailure(f"top exited {p.returncode} before attaching: {text.strip()[-300:]}")
        time.sleep(0.05)
    raise TestFailure("top did not attach within 30 s")


def _drive_all(port):
    drive(port, MIX)
    c = Client(port)
    for _ in range(SLOW):
        c.exchange("GET", "/slow", want="200")
    c.close()


def _finish(p, out, err):
    try:
        p.wait(timeout=DELAY_S + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        raise TestFailure("top --once did not exit")
    out.seek(0)
    err.seek(0)
    check_eq(f"top exit code (stderr: {err.read().decode(errors='replace')[-300:]!r})", 0,
             p.returncode)
    return out.read().decode(errors="replace")


def _slow_bucket(base, n):
    """The (lower, upper] bucket of the serving agent's histogram holding the
    median of the n /slow durations: where top's p50 must be."""
    m = parse_prom(scrape(base + "/metrics/otel")[2])
    buckets = sorted((float(l["le"]), v) for l, v in m.get(OTEL_DUR + "_bucket", [])
                     if l.get("http_route") == "/slow")
    lower = 0.0
    for le, cum in buckets:
        if cum >= n / 2:
            return lower, le
        lower = le
    raise TestFailure(f"/slow buckets on the serving agent: {buckets}")


@needs("root")
def test_top_once_json_and_text():
    """--once --json after known traffic: every (method, route) row with its
    exact total, 4xx and 5xx shares, the header's totals, and /slow's p50 in
    the bucket the serving agent's histogram puts the median in; then --once
    as plain text shows the same rows."""
    want = _want_rows()
    with Procs() as procs:
        srv, port = procs.server("c")
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        p, out, err = _start_top(procs, srv.pid, "--once", "--json", "-d", str(DELAY_S))
        _drive_all(port)
        doc = json.loads(_finish(p, out, err).strip().splitlines()[-1])
        rows = {(r["method"], r["route"]): r for r in doc["rows"]}
        check_eq("json rows", sorted(want), sorted(rows))
        for key, (total, n4, n5) in sorted(want.items()):
            r = rows[key]
            check_eq(f"{key} total", total, r["total"])
            check_eq(f"{key} interval_requests", total, r["interval_requests"])
            check_eq(f"{key} share_4xx", n4 / total, r["share_4xx"])
            check_eq(f"{key} share_5xx", n5 / total, r["share_5xx"])
            check_eq(f"{key} errors", 0, r["errors"])
        check_eq("totals requests", sum(t for t, _, _ in want.values()),
                 doc["totals"]["requests"])
        check_eq("targets", [srv.pid], [t["pid"] for t in doc["targets"]])
        scrape_until(base, len(MIX) + SLOW)
        lo, hi = _slow_bucket(base, want[("GET", "/slow")][0])
        p50 = rows[("GET", "/slow")]["p50_s"]
        check(lo < p50 <= hi, f"/slow p50: want in ({lo}, {hi}] got {p50}")
        check(rows[("GET", "/slow")]["p99_s"] >= p50, "/slow p99 below its p50")

        p, out, err = _start_top(procs, srv.pid, "--once", "-d", "2")
        _drive_all(port)
        text = _finish(p, out, err)
        check("\x1b" not in text, "plain text with escape codes")
        lines = text.splitlines()
        check(lines and lines[0].startswith("otel-agent top: 1 target"),
              f"header: got {lines[:1]}")
        head = next((i for i, l in enumerate(lines) if l.split()[:2] == ["METHOD", "ROUTE"]),
                    None)
        check(head is not None, f"column header: not in {lines[:6]}")
        got = {}
        for line in lines[head + 1:]:
            f = line.split()
            if len(f) >= 4:
                got[(f[0], f[1])] = int(f[3])
        check_eq("text totals", {k: t for k, (t, _, _) in want.items()}, got)


def _tmux(*args):
    return subprocess.run(["tmux", "-L", "oa-top-test"] + list(args), capture_output=True,
                          text=True, timeout=10)


def _screen():
    return _tmux("capture-pane", "-p", "-t", "top").stdout


def _wait_screen(pred, what, timeout=20):
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen()
        if pred(screen):
            return screen
        time.sleep(0.2)
    raise TestFailure(f"tmux screen: want {what}; got:\n{screen}")


def _routes_in_order(screen):
    lines = screen.splitlines()
    head = next((i for i, l in enumerate(lines) if l.split()[:2] == ["METHOD", "ROUTE"]), None)
    if head is None:
        return []
    return [l.split()[1] for l in lines[head + 1:] if len(l.split()) >= 4]


@needs("root", "tmux")
def test_top_interactive_tmux():
    """The interactive view in a tmux pane: the rows appear; 't' sorts by
    total (the header says so), 'n' by route; q ends top with exit 0."""
    with Procs() as procs:
        srv, port = procs.server("c")
        _tmux("kill-server")
        r = _tmux("new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
                  f"{agent_path()} top --pid {srv.pid} -d 1; echo top-exit-$?; sleep 30")
        check_eq(f"tmux new-session ({r.stderr.strip()})", 0, r.returncode)
        try:
            _wait_screen(lambda s: "otel-agent top: 1 target" in s, "the header")
            _drive_all(port)
            _wait_screen(lambda s: "/slow" in s and "/boom" in s, "the rows")
            _tmux("send-keys", "-t", "top", "t")
            screen = _wait_screen(lambda s: "sort: total" in s, "sort: total")
            routes = _routes_in_order(screen)
            check_eq("first row sorted by total", "/hello", routes[0] if routes else None)
            _tmux("send-keys", "-t", "top", "n")
            screen = _wait_screen(lambda s: "sort: route" in s, "sort: route")
            routes = _routes_in_order(screen)
            check_eq("rows sorted by route", sorted(routes), routes)
            _tmux("send-keys", "-t", "top", "q")
            _wait_screen(lambda s: "top-exit-0" in s, "top-exit-0 after q")
        finally:
            _tmux("kill-server")
