"""Target selection: which processes are traced, from the start and as they
come and go. --pid with its descendants (a Node cluster, a pre-fork Python
server, attached before and after the fork), --port (before the server
listens, while it listens, a socket passed to an unrelated process), --comm
(a restarted server that sets process.title, an exec), --exe, a target that
exits, and the FEATURE_OTEL decision with selectors. The servers live in
tests/targets/.
"""

import collections
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from selftests.lib.bpf import agent_map, agent_map_id, map_lookup_u32
from selftests.lib.checks import TestFailure, check, check_eq, check_series
from selftests.lib.client import MIX, drive
from selftests.lib.endpoints import OTEL_DUR, OTEL_KEYS, PLUGIN_KEYS, check_full_scrape
from selftests.lib.needs import needs
from selftests.lib.procs import (SERVERS, TARGETS, Procs, agent_stderr, env_without, expect,
                                 free_port)
from selftests.lib.scrape import scrape, scrape_metrics, scrape_until, series, total

HELLO = ("GET", "/hello", None, "/hello", "200")
SETTLE_S = 5.0


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def hello_requests(port, n, host="127.0.0.1"):
    """n GET /hello, each on a fresh connection (so round-robin spreads them).

    Returns Counter of the X-Worker header (the pid that answered)."""
    served = collections.Counter()
    for i in range(n):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            check_eq(f"server GET /hello #{i + 1}", 200, resp.status)
            served[int(resp.getheader("X-Worker", "0"))] += 1
        finally:
            conn.close()
    return served


def check_hello(tag, base, n):
    """Both endpoints count exactly n GET /hello 200. Returns the scrape."""
    got = scrape_until(base, n)
    want = {("GET", "/hello", "200"): n}
    check_series(f"{tag}: /metrics http_requests_total", want,
                 series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
    check_series(f"{tag}: /metrics/otel _count", want,
                 series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))
    return got


def target_pids(base):
    """process_pid of every target_info sample."""
    m = scrape_metrics(base, "/metrics/otel")
    return {int(l["process_pid"]) for l, _ in m.get("target_info", []) if "process_pid" in l}


def wait_targets(tag, base, want_pids, timeout=SETTLE_S):
    """Poll until target_info lists exactly want_pids and otel_agent_targets agrees."""
    deadline = time.monotonic() + timeout
    while True:
        got = target_pids(base)
        n = total(scrape_metrics(base), "otel_agent_targets")
        if (got == set(want_pids) and n == len(want_pids)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_eq(f"{tag} target_info pids", sorted(want_pids), sorted(got))
    check_eq(f"{tag} otel_agent_targets", len(want_pids), n)


def kernel_targets(agent, gone=()):
    """The agent's targets map, without a scrape (a scrape drops exited pids itself, so this
    is what the kernel programs alone did). Checks that target_bits, the filter every traced
    syscall asks, agrees: the bit of each target set, and of each pid in gone clear."""
    entries = agent_map(agent, "targets")
    check(entries is not None, f"agent {agent.pid} targets map: want one among its fds got none")
    tgids = {e["key"] for e in entries}
    bits_id = agent_map_id(agent, "target_bits")
    check(bits_id is not None, f"agent {agent.pid} target_bits map: want one among its fds got none")
    for tgid in tgids | set(gone):
        word = map_lookup_u32(bits_id, tgid // 64)
        check(word is not None, f"target_bits word of pid {tgid}: want one got none")
        check_eq(f"target_bits: bit of pid {tgid} (a target: {tgid in tgids})", tgid in tgids,
                 bool((word >> (tgid % 64)) & 1))
    return tgids


def check_added(tag, base, want):
    """otel_agent_targets_added_total: processes the kernel programs added."""
    check_eq(f"{tag} otel_agent_targets_added_total", want,
             total(scrape_metrics(base), "otel_agent_targets_added_total"))


def wait_log(tag, agent, text, timeout=SETTLE_S):
    """Poll the agent's stderr until it contains text (a str or a compiled regex)."""
    deadline = time.monotonic() + timeout
    while True:
        err = agent_stderr(agent)
        found = text.search(err) if hasattr(text, "search") else text in err
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    what = text.pattern if hasattr(text, "search") else text
    check(found, f"{tag}: want log {what!r} got {err[-300:]!r}")
    return err


def system_python():
    """The real file behind /usr/bin/python3.11 (or /usr/bin/python3)."""
    for p in ("/usr/bin/python3.11", "/usr/bin/python3"):
        if os.path.exists(p):
            return os.path.realpath(p)
    raise TestFailure("system python: want /usr/bin/python3.11 got none")


def unique_name(prefix):
    """A process name unique to this run, at most 15 characters."""
    return (prefix + secrets.token_hex(6))[:15]


# ---------------------------------------------------------------------------
# --pid: descendants that exist at start and that are forked later
# ---------------------------------------------------------------------------


@needs("root", "node")
def test_cluster_node():
    """Node cluster: agent on the primary after its 2 workers exist; a replaced worker counts."""
    with Procs() as procs:
        port = free_port()
        primary = procs.spawn(["node", os.path.join(TARGETS, "cluster.js"), str(port)],
                              stdout=subprocess.PIPE)
        _, before = expect(primary, "listening")
        workers = [int(l.split()[1]) for l in before if l.startswith("worker ")]
        check_eq("cluster workers listening", 2, len(workers))
        agent, base, _ = procs.agent([primary.pid], ["--feature-otel=true"])
        err = agent_stderr(agent)
        for w in workers:
            check(f"pid {w} (node) is a descendant of pid {primary.pid}" in err,
                  f"cluster worker {w}: want 'descendant of pid {primary.pid}' logged "
                  f"got {err[-300:]!r}")
        wait_targets("cluster", base, [primary.pid] + workers)

        served = hello_requests(port, 10)
        check_eq("cluster 10 requests served by", sorted(workers), sorted(served))
        check_hello(f"cluster 10 requests (worker {workers[0]} {served[workers[0]]}, "
                    f"worker {workers[1]} {served[workers[1]]})", base, 10)

        os.kill(workers[0], signal.SIGKILL)
        line, _ = expect(primary, "worker ")
        new = int(line.split()[1])
        served = hello_requests(port, 6)
        check(served[new] > 0, f"cluster replacement worker {new}: want some of 6 requests "
                               f"got {dict(served)}")
        check_hello(f"cluster 10 + 6 requests (replacement worker {new} {served[new]})",
                    base, 16)
        wait_targets("cluster after replacing a worker", base, [primary.pid, workers[1], new])
        check_eq("cluster after replacing a worker: targets map",
                 {primary.pid, workers[1], new}, kernel_targets(agent, gone=[workers[0]]))
        check_added("cluster (the replacement fork)", base, 1)
        wait_log("cluster replacement", agent,
                 f"tracing pid {new} (node): forked by pid {primary.pid}")


def _prefork_test(fork_after_attach):
    tag = "prefork (agent before fork)" if fork_after_attach else "prefork (agent after fork)"
    with Procs() as procs:
        port = free_port()
        argv = [sys.executable, os.path.join(TARGETS, "prefork.py"), str(port)]
        if fork_after_attach:
            master = procs.spawn(argv + ["--wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            expect(master, "bound")
            agent, base, _ = procs.agent([master.pid], ["--feature-otel=true"])
            master.stdin.write(b"fork\n")
            master.stdin.flush()
            _, before = expect(master, "listening")
        else:
            master = procs.spawn(argv, stdout=subprocess.PIPE)
            _, before = expect(master, "listening")
            agent, base, _ = procs.agent([master.pid], ["--feature-otel=true"])
        workers = [int(l.split()[1]) for l in before if l.startswith("worker ")]
        check_eq(f"{tag} workers", 2, len(workers))
        wait_targets(tag, base, [master.pid] + workers)
        check_added(tag, base, 2 if fork_after_attach else 0)

        want = drive(port, [HELLO] * 7 + [("GET", "/nope", None, "/nope", "404")] * 3)
        served = hello_requests(port, 6)
        check(set(served) <= set(workers), f"{tag}: want requests served by workers {workers} "
                                          f"got {dict(served)}")
        want[("GET", "/hello", "200")] += 6
        got = scrape_until(base, 16)
        check_series(f"{tag}: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        check_series(f"{tag}: /metrics/otel _count", want,
                     series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))


@needs("root")
def test_prefork_python_after_fork():
    """Pre-fork Python: agent on the master after it forked 2 accepting workers."""
    _prefork_test(fork_after_attach=False)


@needs("root")
def test_prefork_python_before_fork():
    """Pre-fork Python: agent on the master before it forks; the kernel adds the workers."""
    _prefork_test(fork_after_attach=True)


# ---------------------------------------------------------------------------
# --port
# ---------------------------------------------------------------------------


@needs("root", "node", "bpftool", "promtool")
def test_port_before_listen():
    """--port P with nothing on P at start: the Node server that listens later is traced."""
    with Procs() as procs:
        port = free_port()
        agent, base, _ = procs.agent([], ["--port", str(port), "--feature-otel=true"])
        wait_log("--port before listen", agent, "waiting for matching processes")
        wait_targets("--port before listen, no server", base, [])
        srv = procs.spawn(["node", os.path.join(SERVERS, "core.js"), str(port)],
                          stdout=subprocess.PIPE)
        expect(srv, "listening")
        check_eq("--port after listen(), before any accept: targets map (inet_sock_set_state)",
                 {srv.pid}, kernel_targets(agent))
        want = drive(port, MIX)
        got = scrape_until(base, len(MIX))
        check_full_scrape(got, want, srv.pid, len(MIX))
        check_added("--port before listen (listen)", base, 1)
        wait_log("--port before listen", agent, f"tracing pid {srv.pid} (node): added")


@needs("root", "node")
def test_port_cluster_started_later():
    """--port P, then a Node cluster on P: the primary listens after forking its workers
    (which never accept), so the agent adds them from /proc once the kernel adds the primary."""
    with Procs() as procs:
        port = free_port()
        agent, base, _ = procs.agent([], ["--port", str(port), "--feature-otel=true"])
        primary = procs.spawn(["node", os.path.join(TARGETS, "cluster.js"), str(port)],
                              stdout=subprocess.PIPE)
        _, before = expect(primary, "listening")
        workers = [int(l.split()[1]) for l in before if l.startswith("worker ")]
        wait_targets("--port cluster", base, [primary.pid] + workers)
        for w in workers:
            wait_log("--port cluster", agent,
                     f"pid {w} (node) is a descendant of pid {primary.pid}, added in the kernel")
        served = hello_requests(port, 10)
        check_eq("--port cluster 10 requests served by", sorted(workers), sorted(served))
        check_hello("--port cluster 10 requests", base, 10)


@needs("root")
def test_port_already_listening():
    """--port P with a pre-fork server on [::1]:P at start: master and workers found in /proc."""
    with Procs() as procs:
        port = free_port()
        master = procs.spawn([sys.executable, os.path.join(TARGETS, "prefork.py"), str(port),
                              "--host", "::1"], stdout=subprocess.PIPE)
        _, before = expect(master, "listening")
        workers = [int(l.split()[1]) for l in before if l.startswith("worker ")]
        agent, base, _ = procs.agent([], ["--port", str(port), "--feature-otel=true"])
        err = agent_stderr(agent)
        for pid in [master.pid] + workers:
            check(re.search(rf"pid {pid} \([^)]*\) matches --port {port}", err),
                  f"--port {port} (IPv6) pid {pid}: want 'matches --port' logged "
                  f"got {err[-300:]!r}")
        wait_targets("--port IPv6", base, [master.pid] + workers)
        served = hello_requests(port, 9, host="::1")
        check(set(served) <= set(workers), f"--port IPv6: want requests served by workers "
                                          f"{workers} got {dict(served)}")
        check_hello("--port IPv6 9 requests", base, 9)


@needs("root")
def test_port_passed_socket():
    """--port P: a process that never listens but accepts on a socket passed to it is traced."""
    with Procs() as procs, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        path = os.path.join(tmp, "pass.sock")
        script = os.path.join(TARGETS, "fd_pass.py")
        giver = procs.spawn([sys.executable, script, "give", str(port), path],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        expect(giver, "listening")
        taker = procs.spawn([sys.executable, script, "take", path], stdout=subprocess.PIPE)
        expect(taker, "ready")
        agent, base, _ = procs.agent([], ["--port", str(port), "--feature-otel=true"])
        err = agent_stderr(agent)
        check(f"pid {giver.pid} (" in err, f"passed socket: want giver {giver.pid} matched at "
                                          f"start got {err[-300:]!r}")
        check(f"pid {taker.pid} (" not in err, f"passed socket: want taker {taker.pid} not "
                                               f"matched at start got {err[-300:]!r}")
        giver.stdin.write(b"send\n")
        giver.stdin.flush()
        expect(giver, "sent")
        expect(taker, "serving")
        served = hello_requests(port, 5)
        check_eq("passed socket: requests served by", {taker.pid: 5}, dict(served))
        check_hello("passed socket 5 requests (accept on --port)", base, 5)
        wait_targets("passed socket", base, [giver.pid, taker.pid])
        check_added("passed socket (accept)", base, 1)


# ---------------------------------------------------------------------------
# --comm and --exe
# ---------------------------------------------------------------------------


@needs("root", "node")
def test_comm_restart():
    """--comm NAME: a Node server setting process.title = NAME, before and after a restart."""
    with Procs() as procs:
        name = unique_name("oacomm")
        script = os.path.join(TARGETS, "titled.js")
        port1 = free_port()
        gen1 = procs.spawn(["node", script, str(port1), name], stdout=subprocess.PIPE)
        expect(gen1, "listening")
        agent, base, _ = procs.agent([], ["--comm", name, "--feature-otel=true"])
        err = agent_stderr(agent)
        check(f"pid {gen1.pid} ({name}) matches --comm {name}" in err,
              f"--comm generation 1: want 'pid {gen1.pid} ({name}) matches --comm' got "
              f"{err[-300:]!r}")
        hello_requests(port1, 5)
        check_hello("--comm generation 1: 5 requests", base, 5)

        gen1.kill()
        gen1.wait()
        port2 = free_port()
        gen2 = procs.spawn(["node", script, str(port2), name], stdout=subprocess.PIPE)
        expect(gen2, "listening")
        hello_requests(port2, 3)
        check_hello("--comm generation 1 (5) + generation 2 (3)", base, 8)
        wait_targets("--comm after restart", base, [gen2.pid])
        check_added("--comm restart (task_rename)", base, 1)


@needs("root")
def test_comm_exec():
    """--comm NAME: a process whose executable is named NAME is traced from its exec."""
    with Procs() as procs, tempfile.TemporaryDirectory() as tmp:
        name = unique_name("oapy")
        exe = os.path.join(tmp, name)
        shutil.copy(system_python(), exe)
        agent, base, _ = procs.agent([], ["--comm", name, "--feature-otel=true"])
        port = free_port()
        srv = procs.spawn([exe, os.path.join(SERVERS, "py_server.py"), str(port)],
                          stdout=subprocess.PIPE)
        expect(srv, "listening")
        want = drive(port, [HELLO] * 4)
        got = scrape_until(base, 4)
        check_series("--comm exec: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        wait_targets("--comm exec", base, [srv.pid])
        check_added("--comm exec (sched_process_exec)", base, 1)


@needs("root", "promtool")
def test_exe():
    """--exe PATH given before the server starts: a copy of python3.11 running py_server.py."""
    with Procs() as procs, tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        exe = os.path.join(tmp, "oa-exe-" + secrets.token_hex(4))
        shutil.copy(system_python(), exe)
        other = os.path.join(tmp, "oa-other-" + secrets.token_hex(4))
        shutil.copy(system_python(), other)
        agent, base, _ = procs.agent([], ["--exe", exe, "--feature-otel=true"])
        port = free_port()
        srv = procs.spawn([exe, os.path.join(SERVERS, "py_server.py"), str(port)],
                          stdout=subprocess.PIPE)
        expect(srv, "listening")
        # the same interpreter under another path is not selected
        port_b = free_port()
        srv_b = procs.spawn([other, os.path.join(SERVERS, "py_server.py"), str(port_b)],
                            stdout=subprocess.PIPE)
        expect(srv_b, "listening")
        drive(port_b, [HELLO] * 3)
        want = drive(port, MIX)
        got = scrape_until(base, len(MIX))
        check_full_scrape(got, want, srv.pid, len(MIX))
        check_added("--exe (sched_process_exec)", base, 1)


@needs("root")
def test_exe_short_lived_logged():
    """--exe of a program that exits at once: each run is traced and counted
    in targets_added_total, and the log says so although the process is gone
    before the agent's next look (it said nothing)."""
    with Procs() as procs, tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        exe = os.path.join(tmp, "oa-brief-" + secrets.token_hex(4))
        shutil.copy("/usr/bin/true", exe)
        agent, base, _ = procs.agent([], ["--exe", exe, "--feature-otel=true"])
        for _ in range(5):
            subprocess.run([exe], check=True)
        said = re.compile(r"(\d+) process(?:es)? added in the kernel .*exited before")
        deadline = time.monotonic() + SETTLE_S
        while True:
            logged = sum(int(n) for n in said.findall(agent_stderr(agent)))
            if logged >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check_eq("short-lived --exe: processes logged as gone before a look", 5, logged)
        check_added("short-lived --exe", base, 5)


# ---------------------------------------------------------------------------
# Exits and the flag
# ---------------------------------------------------------------------------


@needs("root", "node", "bpftool")
def test_target_exits():
    """A --pid target killed: agent stays up, counts stay, otel_agent_targets drops to 0."""
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        want = drive(port, [HELLO] * 4)
        check_hello("before exit: 4 requests", base, 4)
        check_eq("before exit: targets map", {srv.pid}, kernel_targets(agent))
        srv.kill()
        srv.wait()
        deadline = time.monotonic() + SETTLE_S
        while kernel_targets(agent) and time.monotonic() < deadline:
            time.sleep(0.1)
        check_eq("after exit, no scrape: targets map (sched_process_exit)", set(),
                 kernel_targets(agent, gone=[srv.pid]))
        wait_targets("after the target exited", base, [])
        check(agent.poll() is None, f"after target exit agent: want running got exit "
                                    f"{agent.returncode}")
        status, _, body = scrape(base + "/healthz")
        check_eq("after target exit /healthz", 200, status)
        check(body.startswith("ok"), f"after target exit /healthz: want ok got {body[:40]!r}")
        check_series("after target exit: /metrics http_requests_total", want,
                     series(scrape_metrics(base), "http_requests_total", PLUGIN_KEYS))
        check_series("after target exit: /metrics/otel _count", want,
                     series(scrape_metrics(base, "/metrics/otel"), OTEL_DUR + "_count",
                            OTEL_KEYS))
        wait_log("after target exit", agent, f"target pid {srv.pid} exited")


@needs("root", "node", "bpftool")
def test_reclaim_after_kill():
    """A target killed with connections open: no close() runs, so its conns (and reqs)
    entries stayed; the kernel now ends them when the process exits (sched_process_exit),
    and the agent's reclaim every 5 s deletes whatever is left."""
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true", "-v"])
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(3)]
        try:
            for c in conns:  # keep-alive: each connection stays open after its response
                c.request("GET", "/hello")
                c.getresponse().read()
            check_hello("before kill: 3 requests", base, 3)

            def stale():
                n = 0
                for name in ("conns", "reqs"):
                    for e in agent_map(agent, name) or []:
                        n += e["key"]["tgid"] == srv.pid
                return n

            check(stale() > 0, "before kill: want conns entries of the target got none")
            srv.kill()
            srv.wait()
            deadline = time.monotonic() + 8.0
            while stale() and time.monotonic() < deadline:
                time.sleep(0.2)
            check_eq("conns/reqs entries of the killed target after 8 s", 0, stale())
        finally:
            for c in conns:
                c.close()


@needs("root", "node")
def test_flag_from_port_target():
    """No option, no agent FEATURE_OTEL: the FEATURE_OTEL=true of the --port server enables."""
    with Procs() as procs:
        srv, port = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        agent, base, _ = procs.agent([], ["--port", str(port)], env=env_without("FEATURE_OTEL"))
        wait_log("--port flag source", agent, "flag from the target's FEATURE_OTEL")
        hello_requests(port, 3)
        check_hello("--port flag from target env: 3 requests", base, 3)


def test_no_target_at_start_flag():
    """--comm matching nothing, no option, no agent FEATURE_OTEL: disabled, and says why."""
    with Procs() as procs:
        agent, base, _ = procs.agent([], ["--comm", unique_name("oanone")],
                                     env=env_without("FEATURE_OTEL"), wait_body=("disabled",))
        wait_log("no target at start", agent, "FEATURE_OTEL cannot be read")
        status, _, _ = scrape(base + "/metrics")
        check_eq("no target at start GET /metrics", 404, status)


@needs("root")
def test_no_target_at_start_flag_on():
    """--comm matching nothing with --feature-otel=true: publishing is on,
    and the log says so; it does not say the flag defaults to disabled."""
    with Procs() as procs:
        agent, base, _ = procs.agent([], ["--comm", unique_name("oanone"), "--feature-otel=true"],
                                     env=env_without("FEATURE_OTEL"))
        err = wait_log("no target, flag on", agent, "serving http://")
        check("disabled" not in err, f"no target, flag on: want no 'disabled' in the log got "
              f"{err[-400:]!r}")
        status, _, _ = scrape(base + "/metrics")
        check_eq("no target, flag on: GET /metrics", 200, status)
