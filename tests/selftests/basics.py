"""End-to-end basics: the standard mix against Node, Python and C with exact
series on both endpoints, the FEATURE_OTEL decision, untargeted processes,
a clean detach, and bad input.

Each test starts its own server(s) on random free ports, attaches the agent
to their pids only, drives a known request mix and asserts exact series
values.
"""

import os
import signal
import subprocess
import time

from selftests.lib.bpf import bpf_progs, progs_of
from selftests.lib.checks import TestFailure, check, check_eq, check_series
from selftests.lib.client import MIX, drive
from selftests.lib.endpoints import OTEL_DUR, OTEL_KEYS, PLUGIN_KEYS, check_full_scrape
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, agent_path, env_without, run_agent
from selftests.lib.scrape import scrape, scrape_until, series


def _counts_test(kind):
    with Procs() as procs:
        srv, port = procs.server(kind)
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        want = drive(port, MIX)
        got = scrape_until(base, len(MIX))
        check_full_scrape(got, want, srv.pid, len(MIX))


def check_disabled(tag, agent, base):
    """A disabled agent: the metrics paths answer 404, it holds no BPF program, it runs."""
    for path in ("/metrics", "/metrics/otel"):
        status, _, _ = scrape(base + path)
        check_eq(f"{tag} GET {path}", 404, status)
    progs = progs_of(agent.pid)
    check(not progs, f"{tag} bpf programs of agent: want none got ids {sorted(progs)}")
    check(agent.poll() is None, f"{tag} agent: want running got exit {agent.returncode}")


@needs("root", "node", "promtool")
def test_counts_node():
    """Exact series for the standard mix against Node (accept4/read/writev)."""
    _counts_test("node")


@needs("root", "promtool")
def test_counts_python():
    """Exact series for the standard mix against Python (recvfrom/sendto)."""
    _counts_test("python")


@needs("root", "promtool")
def test_counts_c():
    """Exact series for the standard mix against C (accept4/recv/send)."""
    _counts_test("c")


@needs("root", "node", "bpftool")
def test_flag_off():
    """--feature-otel=false: healthz 'disabled', metrics 404, nothing in the kernel."""
    with Procs() as procs:
        srv, _ = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=false"],
                                     wait_body=("disabled",))
        check_disabled("flag off", agent, base)


@needs("root", "node")
def test_flag_from_target_env():
    """No option, no agent FEATURE_OTEL: the target's FEATURE_OTEL=true enables."""
    with Procs() as procs:
        srv, port = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        _, base, _ = procs.agent([srv.pid], env=env_without("FEATURE_OTEL"))
        mix = [("GET", "/hello", None, "/hello", "200")] * 3
        want = drive(port, mix)
        got = scrape_until(base, len(mix))
        check_series("target env on: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        check_series("target env on: /metrics/otel _count", want,
                     series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))


@needs("root", "node", "bpftool")
def test_flag_agent_env_overrides_target():
    """Agent FEATURE_OTEL=0 beats a target started with FEATURE_OTEL=true."""
    with Procs() as procs:
        srv, _ = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        agent, base, _ = procs.agent([srv.pid], env=env_without("FEATURE_OTEL", FEATURE_OTEL="0"),
                                     wait_body=("disabled",))
        check_disabled("agent env 0", agent, base)


@needs("root", "node")
def test_untargeted_not_counted():
    """Two servers, agent targets only the first: only its traffic counts."""
    with Procs() as procs:
        a, port_a = procs.server("node")
        b, port_b = procs.server("node")
        _, base, _ = procs.agent([a.pid], ["--feature-otel=true"])
        drive(port_b, [("GET", "/boom", None, "/boom", "500")] * 3
              + [("GET", "/hello", None, "/hello", "200")] * 6)
        mix = ([("GET", "/hello", None, "/hello", "200")] * 4
               + [("POST", "/items", b"x", "/items", "201")] * 2)
        want = drive(port_a, mix)
        drive(port_b, [("PUT", "/items/1", b"y", "/items/{id}", "200")] * 2)
        got = scrape_until(base, len(mix))
        time.sleep(0.3)  # let any wrongly attributed late event land too
        got = scrape_until(base, len(mix))
        check_series("untargeted: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        check_series("untargeted: /metrics/otel _count", want,
                     series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))
        check_series("untargeted: /metrics http_request_errors_total", {},
                     series(got["plugin"][0], "http_request_errors_total", ("method", "path")))
        tinfo = [l.get("process_pid") for l, _ in got["otel"][0].get("target_info", [])]
        check(str(b.pid) not in tinfo, f"untargeted target_info: want no pid {b.pid} got {tinfo}")


@needs("root", "node", "bpftool")
def test_clean_detach():
    """SIGTERM: exit 0 within 5 s, and every BPF program the agent held is gone."""
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, _, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        drive(port, [("GET", "/hello", None, "/hello", "200")] * 2)
        before = progs_of(agent.pid)
        check(before, "running agent bpf programs: want some holding its pid got none")
        agent.send_signal(signal.SIGTERM)
        try:
            rc = agent.wait(5)
        except subprocess.TimeoutExpired:
            raise TestFailure("SIGTERM: want exit within 5s got still running")
        check_eq("SIGTERM exit code", 0, rc)
        deadline = time.monotonic() + 3.0
        while True:  # program release is deferred in the kernel; give it a moment
            left = before & set(bpf_progs())
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(not left,
              f"after exit bpf programs: want none of {sorted(before)} got {sorted(left)}")


def test_bad_input():
    """Unknown option and a dead pid: non-zero exit, one actionable stderr line."""
    r = subprocess.run([agent_path(), "--no-such-option"], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    check(r.returncode != 0, "unknown option: want non-zero exit got 0")
    check_eq("unknown option stderr lines", 1, len(lines))

    dead = subprocess.Popen(["true"])
    dead.wait()  # reaped: its pid no longer exists
    check(not os.path.exists(f"/proc/{dead.pid}"), f"pid {dead.pid} reused; rerun")
    rc, err = run_agent([dead.pid], timeout=20)
    check(rc != 0, f"--pid {dead.pid} (dead): want non-zero exit got 0")
    check(str(dead.pid) in err, f"--pid {dead.pid} (dead) stderr: want the pid got {err[:80]!r}")


