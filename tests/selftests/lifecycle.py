"""Kernel state over a long run: series of processes that are gone leave the
kernel's series map (their counts stay exported), a flood of new paths
costs a target at most its cap of kernel series and loses no request, a
burst of new series the per-CPU allocator cannot follow loses nothing, and
a full series map recovers by itself. Each test reads the agent's maps with
bpftool and checks the exported totals against what the client sent.
"""

import os
import subprocess
import sys
import time

from selftests.lib.bpf import agent_map
from selftests.lib.checks import check, check_eq, check_series
from selftests.lib.client import Client, drive_on
from selftests.lib.endpoints import OTEL_DUR, OTEL_KEYS, PLUGIN_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import TARGETS, Procs, expect, free_port
from selftests.lib.scrape import scrape_metrics, scrape_until, series, total

# The agent retires kernel state every 5 s, and a live series after 5 s idle.
RETIRE_WAIT_S = 20.0


def _series_entries(agent, name="series"):
    """The agent's kernel series map (or series_spill): [(tgid, flags, path)]."""
    out = []
    for e in agent_map(agent, name) or []:
        k = e["key"]
        path = k["path"]
        if isinstance(path, list):  # bpftool prints a char array as numbers or as a string
            path = bytes(int(x, 0) if isinstance(x, str) else x for x in path)
            path = path.split(b"\0", 1)[0].decode(errors="replace")
        out.append((k["tgid"], k.get("flags", 0), path))
    return out


def _wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.5)
    return cond()


def _fresh_connections(port, n, path="/hello"):
    """n GET path, each on a connection of its own; returns how many were answered 200."""
    import http.client
    ok = 0
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            ok += r.status == 200
        finally:
            c.close()
    return ok


def _check_totals(tag, base, want):
    got = scrape_until(base, sum(want.values()))
    check_series(f"{tag}: /metrics http_requests_total", want,
                 series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
    check_series(f"{tag}: /metrics/otel _count", want,
                 series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))
    return got


@needs("root", "bpftool")
def test_recycled_workers_leave_kernel():
    """A pre-fork server whose workers exit after 3 connections (gunicorn's
    --max-requests): 60 requests go through about 20 workers. Every request
    stays counted, and the series of the workers that are gone leave the
    kernel map (they stayed there for good: one entry per worker ever)."""
    with Procs() as procs:
        port = free_port()
        argv = [sys.executable, os.path.join(TARGETS, "prefork.py"), str(port),
                "--max-requests", "3"]
        master = procs.spawn(argv, stdout=subprocess.DEVNULL)
        _wait_for(lambda: _port_open(port), 10)
        agent, base, _ = procs.agent([master.pid], ["--feature-otel=true"])
        sent = _fresh_connections(port, 60)
        check_eq("recycled workers: requests answered 200", 60, sent)
        want = {("GET", "/hello", "200"): 60}
        _check_totals("recycled workers", base, want)

        def gone_entries():
            return [e for e in _series_entries(agent) if not os.path.exists(f"/proc/{e[0]}")]

        _wait_for(lambda: not gone_entries(), RETIRE_WAIT_S)
        left = _series_entries(agent)
        print(f"recycled workers: {len(left)} kernel series left: {left}")
        check_eq("recycled workers: kernel series of exited workers after "
                 f"{RETIRE_WAIT_S:.0f} s", [], gone_entries())
        check(len(left) <= 2, f"recycled workers: want at most 2 kernel series (the live "
                              f"workers') got {len(left)}")
        # what left the kernel is still exported, exactly, and adds up with what comes next
        sent = _fresh_connections(port, 6)
        want[("GET", "/hello", "200")] += sent
        _check_totals("recycled workers, 6 more", base, want)


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@needs("root", "node", "bpftool")
def test_path_flood_kernel_cap():
    """--max-series-per-target 20 and 1000 distinct paths: the kernel holds
    at most 20 series of the target plus its overflow series, no map update
    fails, and every request is in the totals (the flood past the cap in
    the overflow series). A route first seen after the flood is counted."""
    cap, flood = 20, 1000
    with Procs() as procs:
        srv, port, agent, base = procs.traced("node", extra=["--max-series-per-target", str(cap)])
        c = Client(port)
        try:
            drive_on(c, [("GET", f"/flood/{i}x", b"", f"/flood/{i}x", "404")
                         for i in range(flood)])
            drive_on(c, [("GET", "/hello", b"", "/hello", "200")] * 5)
        finally:
            c.close()
        got = scrape_until(base, flood + 5)
        for key, name in (("plugin", "http_requests_total"), ("otel", OTEL_DUR + "_count")):
            check_eq(f"path flood: {key} total of every series", flood + 5,
                     total(got[key][0], name))
        m = scrape_metrics(base)
        check_eq("path flood: map update errors", 0,
                 total(m, "otel_agent_map_update_errors_total"))
        check(total(m, "otel_agent_series_capped_total") > 0,
              "path flood: want otel_agent_series_capped_total > 0 got 0")
        own = [e for e in _series_entries(agent) if e[0] == srv.pid]
        spilled = [e for e in _series_entries(agent, "series_spill") if e[0] == srv.pid]
        overflow = [e for e in spilled if e[1]]
        print(f"path flood: {len(own)} kernel series of the target, {len(spilled)} spilled "
              f"({len(overflow)} overflow)")
        check(len(own) <= cap, f"path flood: want at most {cap} kernel series got {len(own)}")
        check(0 < len(overflow) <= 2, f"path flood: want the target's overflow series (404, "
                                      f"and 200 for /hello) in series_spill got {overflow}")


@needs("root", "node")
def test_new_series_burst_exact():
    """2500 new paths in a burst, under the cap: each gets its own series and
    every request is counted. The per-CPU allocator cannot grow where BPF
    runs, so part of such a burst finds no memory for a new entry: it lost
    14% to 40% of the requests (map update errors); those series now go to
    the preallocated series_spill."""
    n = 2500
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=["--max-series-per-target", "3000"])
        c = Client(port)
        try:
            drive_on(c, [("GET", f"/burst/{i}x", b"", f"/burst/{i}x", "404") for i in range(n)])
        finally:
            c.close()
        got = scrape_until(base, n)
        m = scrape_metrics(base)
        print(f"new series burst: {total(m, 'otel_agent_series_spilled_total'):g} spilled")
        check_eq("new series burst: map update errors", 0,
                 total(m, "otel_agent_map_update_errors_total"))
        for key, name, route in (("plugin", "http_requests_total", "path"),
                                 ("otel", OTEL_DUR + "_count", "http_route")):
            samples = got[key][0].get(name, [])
            check_eq(f"new series burst: {key} total", n, sum(v for _, v in samples))
            check_eq(f"new series burst: {key} series of /burst/", n,
                     len({l[route] for l, _ in samples if l.get(route, "").startswith("/burst/")}))


@needs("root", "node", "bpftool")
def test_full_series_map_recovers():
    """--max-series 64 and 200 distinct paths: what does not fit in the
    series map goes to series_spill, nothing is lost. Once the flood is
    idle the agent moves it out of the kernel (it stayed for good, and every
    new series after it was lost), and a route first seen after it is
    counted in its own series, exactly."""
    flood = 200
    with Procs() as procs:
        _, port, agent, base = procs.traced("node", extra=["--max-series", "64"])
        c = Client(port)
        try:
            drive_on(c, [("GET", f"/full/{i}x", b"", f"/full/{i}x", "404")
                         for i in range(flood)])
        finally:
            c.close()
        got = scrape_until(base, flood)
        m = scrape_metrics(base)
        check_eq("full map: requests exported", flood, total(m, "http_requests_total"))
        check_eq("full map: map update errors", 0, total(m, "otel_agent_map_update_errors_total"))
        check(total(m, "otel_agent_series_spilled_total") >= flood - 64,
              f"full map: want at least {flood - 64} spilled got "
              f"{total(m, 'otel_agent_series_spilled_total'):g}")

        def held():
            return len(_series_entries(agent)) + len(_series_entries(agent, "series_spill"))

        _wait_for(lambda: held() < 16, RETIRE_WAIT_S)
        check(held() < 16, f"full map: want the idle flood moved out of the kernel after "
                           f"{RETIRE_WAIT_S:.0f} s got {held()} entries")
        c = Client(port)
        try:
            drive_on(c, [("GET", "/hello", b"", "/hello", "200")] * 7)
        finally:
            c.close()
        got = scrape_until(base, flood + 7)
        check_eq("full map: /hello after recovery", {("GET", "/hello", "200"): 7},
                 {k: v for k, v in series(got["plugin"][0], "http_requests_total",
                                          PLUGIN_KEYS).items() if k[1] == "/hello"})
        check_eq("full map: requests exported after recovery", flood + 7,
                 total(scrape_metrics(base), "http_requests_total"))
        check_eq("full map: /hello in its own kernel series", 1,
                 sum(e[2] == "/hello" for e in _series_entries(agent)))
