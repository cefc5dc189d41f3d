"""The compat build of the BPF programs (bpf/variant.bpf.h), the one kernels
before 5.17 load, run here on this kernel with OTEL_AGENT_PROGRAMS=compat:
exact series for the standard mix, pipelining, and a target killed with
requests waiting; the framing's step bound counted when it runs out; the
build each agent loaded named in otel_agent_build_info. make vmtest runs it
on the kernels themselves.
"""

import os
import socket
import time

from selftests.lib.checks import check, check_eq
from selftests.lib.client import MIX, PIPELINE, Client, add, drive, drive_on, request
from selftests.lib.endpoints import check_full_scrape, check_healthy, check_traffic
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, run_agent
from selftests.lib.scrape import parse_prom, scrape, scrape_until, total

COMPAT = dict(os.environ, OTEL_AGENT_PROGRAMS="compat")
CURRENT = {k: v for k, v in os.environ.items() if k != "OTEL_AGENT_PROGRAMS"}

# More pipelined requests in one read than the compat build's 1024 framing
# steps take (each request line and header block is a step or more), fewer
# than the current build's 8192, and within the C server's 16 KiB read.
FLOOD = 700


def _metrics(base):
    status, _, body = scrape(base + "/metrics/otel")
    check_eq("GET /metrics/otel", 200, status)
    return parse_prom(body)


def _build_label(base):
    info = _metrics(base).get("otel_agent_build_info", [])
    check(len(info) == 1, f"otel_agent_build_info: want one sample got {info}")
    return info[0][0].get("bpf_programs")


@needs("root", "node", "promtool")
def test_compat_counts_node():
    """The standard mix against Node with the compat programs: exact on both
    endpoints, and build_info says which programs run."""
    with Procs() as procs:
        srv, port = procs.server("node")
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], env=COMPAT)
        check_eq("bpf_programs label", "compat", _build_label(base))
        want = drive(port, MIX)
        got = scrape_until(base, len(MIX))
        check_full_scrape(got, want, srv.pid, len(MIX))


@needs("root")
def test_current_build_here():
    """Without the override this kernel gets the current programs."""
    with Procs() as procs:
        srv, _ = procs.server("c")
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], env=CURRENT)
        check_eq("bpf_programs label", "current", _build_label(base))


@needs("root", "node")
def test_compat_pipelining_and_exit():
    """Compat programs: five pipelined requests in one write and requests on
    a kept-alive connection are exact; Node then killed with three requests
    read and unanswered ends them as connection_closed (the fd walk at exit)."""
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], env=COMPAT)
        ok = {}
        c = Client(port)
        c.send(b"".join(request(m, p, b) for m, p, b, _, _ in PIPELINE))
        for m, _, _, route, status in PIPELINE:
            c.response()
            add(ok, (m, route, status))
        drive_on(c, [("GET", "/hello", b"", "/hello", "200")] * 2, ok)
        hang = Client(port)
        hang.send(request("GET", "/hang") * 3)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if total(parse_prom(scrape(base + "/metrics")[2]),
                     "otel_agent_requests_total") >= len(PIPELINE) + 5:
                break
            time.sleep(0.05)
        srv.kill()
        srv.wait()
        check_traffic("compat, target killed", base, ok,
                      aborted={("GET", "/hang", "connection_closed"): 3},
                      counters={"otel_agent_connection_errors_total": 3})
        c.close()
        hang.close()
        check_healthy("compat, target killed", agent, base)


@needs("root")
def test_compat_read_under_way_at_attach():
    """A Python server thread blocked in recv() on a kept-alive connection as
    the compat programs attach (no enter program ran for that syscall): its
    next requests are exact, the arguments found on the thread's stack."""
    with Procs() as procs:
        srv, port = procs.server("python")
        c = Client(port)
        c.exchange("GET", "/hello", want="200")
        time.sleep(0.2)  # the server's thread is back in recv()
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], env=COMPAT)
        ok = drive_on(c, [("GET", "/hello", b"", "/hello", "200"),
                          ("GET", "/nope", b"", "/nope", "404"),
                          ("PUT", "/items/3", b"x", "/items/{id}", "200")])
        check_traffic("compat, read under way at attach", base, ok)
        c.close()


def _flood_steps(env):
    """FLOOD pipelined requests in one send to the C server; returns the
    agent's framing_steps_exhausted count once it has read them."""
    with Procs() as procs:
        srv, port = procs.server("c")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], env=env)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * FLOOD)
            s.settimeout(10)
            got, deadline = b"", time.monotonic() + 10
            while got.count(b"HTTP/1.1 ") < FLOOD and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        check_eq("responses to the flood", FLOOD, got.count(b"HTTP/1.1 "))
        time.sleep(0.2)
        n = total(_metrics(base), "otel_agent_framing_steps_exhausted_total")
        check_healthy("flood", agent, base)
        return n


@needs("root")
def test_compat_steps_exhausted_counted():
    """A read holding more requests than the compat build's 1024 steps frame
    is counted in otel_agent_framing_steps_exhausted_total; the current
    build's 8192 take the same read whole (0)."""
    check(_flood_steps(COMPAT) >= 1,
          "compat: framing_steps_exhausted_total: want >= 1 got 0")
    check_eq("current: framing_steps_exhausted_total", 0, _flood_steps(CURRENT))


@needs("root")
def test_programs_override_refused():
    """An OTEL_AGENT_PROGRAMS the agent does not know: one line, exit 1."""
    with Procs() as procs:
        srv, _ = procs.server("c")
        env = dict(os.environ, OTEL_AGENT_PROGRAMS="legacy")
        code, err = run_agent([srv.pid], env=env)
        check_eq("exit code", 1, code)
        check("OTEL_AGENT_PROGRAMS is 'legacy'; it takes auto, current or compat" in err,
              f"stderr: want the override named got {err!r}")
