"""Least privilege once attached (docs/security.md): the serving agent, each
of its threads, runs as --user (nobody by default) with no supplementary
groups, only the named capabilities, no_new_privs and the seccomp filter;
a target that appears after the drop is still traced and its environment
read; an unprivileged start says that privilege is what is missing.
"""

import os
import shutil
import subprocess
import tempfile
import time

from selftests.lib.checks import check, check_eq, check_series
from selftests.lib.client import drive
from selftests.lib.endpoints import PLUGIN_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import (TARGETS, Procs, agent_path, agent_stderr, env_without, expect,
                                  free_port, server_argv)
from selftests.lib.scrape import scrape, scrape_metrics, scrape_until, series

NOBODY = 65534
CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
CAP_BPF = 39
# what a tracing agent keeps: it reads the /proc/PID/environ and exe of
# targets of other users that appear later (docs/security.md)
TRACING_CAPS = 1 << CAP_DAC_READ_SEARCH | 1 << CAP_SYS_PTRACE
HELLO = ("GET", "/hello", None, "/hello", "200")


def _status(path):
    """The fields of a /proc/.../status file."""
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _tasks(pid):
    """(tid, comm, status) of every thread of pid."""
    out = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            out.append((tid, comm, _status(f"/proc/{pid}/task/{tid}/status")))
        except FileNotFoundError:
            pass  # a render thread that ended meanwhile
    return out


def _kept_caps(log):
    """The capabilities the agent may hold serving: those it names, CAP_BPF
    only on a kernel that asks for it on map lookups (it says so)."""
    caps = TRACING_CAPS
    if "CAP_BPF" in log.split("serving as user", 1)[-1].split("\n", 1)[0]:
        caps |= 1 << CAP_BPF
    return caps


def _check_dropped(tag, agent, want_caps):
    """Every thread of the agent: uid and gid nobody, no groups, CapEff
    exactly want_caps and nothing else held, no_new_privs, seccomp filter."""
    tasks = _tasks(agent.pid)
    check(len(tasks) >= 2, f"{tag}: want the main and the endpoint's threads got {tasks!r}")
    for tid, comm, st in tasks:
        who = f"{tag}: thread {tid} ({comm})"
        check_eq(f"{who} Uid (real, effective, saved, fs)", [str(NOBODY)] * 4, st["Uid"].split())
        check_eq(f"{who} Gid (real, effective, saved, fs)", [str(NOBODY)] * 4, st["Gid"].split())
        check_eq(f"{who} Groups", "", st["Groups"])
        check_eq(f"{who} CapEff", f"{want_caps:016x}", st["CapEff"])
        check_eq(f"{who} CapPrm", f"{want_caps:016x}", st["CapPrm"])
        check_eq(f"{who} CapInh", f"{0:016x}", st["CapInh"])
        check_eq(f"{who} CapAmb", f"{0:016x}", st["CapAmb"])
        check_eq(f"{who} CapBnd", f"{0:016x}", st["CapBnd"])
        check_eq(f"{who} NoNewPrivs", "1", st["NoNewPrivs"])
        check_eq(f"{who} Seccomp (2: filter)", "2", st["Seccomp"])


@needs("root", "node")
def test_serving_least_privilege():
    """A tracing agent after attach: every thread nobody, only CAP_SYS_PTRACE
    and CAP_DAC_READ_SEARCH, no_new_privs, seccomp; and it still counts,
    scrapes, and detaches on SIGTERM with no program left."""
    with Procs() as procs:
        srv, port, agent, base = procs.traced("node")
        want = drive(port, [HELLO] * 4)
        got = scrape_until(base, 4)
        check_series("after the drop: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        agent.stderr_file.seek(0)
        log = agent.stderr_file.read().decode(errors="replace")
        _check_dropped("tracing agent", agent, _kept_caps(log))
        check("seccomp: denied" not in log,
              f"after the drop: want no syscall denied got {log[-300:]!r}")
        # the render thread of a scrape is made by a thread that was dropped
        status, _, body = scrape(base + "/metrics/otel")
        check_eq("after the drop: GET /metrics/otel", 200, status)
        check('service_name="' in body and "process_executable_name=" in body,
              f"after the drop: want the root target's resource in target_info got "
              f"{body[:200]!r}")
        agent.terminate()
        check_eq("after the drop: exit on SIGTERM", 0, agent.wait(10))
        agent.stderr_file.seek(0)
        log = agent.stderr_file.read().decode(errors="replace")
        check("detached" in log, f"after the drop: want 'detached' got {log[-200:]!r}")


@needs("root")
def test_disabled_least_privilege():
    """Publishing disabled: nothing is loaded, nothing of a target is read;
    serving keeps no capability at all."""
    with Procs() as procs:
        agent, base, _ = procs.agent([os.getpid()], ["--feature-otel=false"],
                                     wait_body=("disabled",))
        _check_dropped("disabled agent", agent, 0)


@needs("root", "node")
def test_target_after_drop():
    """--comm NAME with nothing matching at start: a root process named NAME
    that starts after the drop is traced, counted, and its environment
    (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) and executable are read."""
    with Procs() as procs:
        name = "oapriv" + os.urandom(4).hex()
        agent, base, _ = procs.agent([], ["--comm", name, "--feature-otel=true"],
                                     env=env_without("FEATURE_OTEL", "OTEL_SERVICE_NAME",
                                                     "OTEL_RESOURCE_ATTRIBUTES"))
        log = ""
        deadline = time.monotonic() + 10
        while "serving as user nobody" not in log and time.monotonic() < deadline:
            agent.stderr_file.seek(0)
            log = agent.stderr_file.read().decode(errors="replace")
            time.sleep(0.1)
        check("serving as user nobody" in log, f"--comm: want the drop logged got {log[-300:]!r}")
        port = free_port()
        env = env_without("FEATURE_OTEL", OTEL_SERVICE_NAME="late-svc",
                          OTEL_RESOURCE_ATTRIBUTES="deployment.environment=drop-test")
        srv = procs.spawn(["node", os.path.join(TARGETS, "titled.js"),
                           str(port), name], env=env, stdout=subprocess.PIPE)
        expect(srv, "listening")
        want = drive(port, [HELLO] * 3)
        got = scrape_until(base, 3)
        check_series("target after the drop: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        info = [l for l, _ in scrape_metrics(base, "/metrics/otel").get("target_info", [])
                if l.get("process_pid") == str(srv.pid)]
        check_eq("target after the drop: target_info samples", 1, len(info))
        check_eq("target after the drop: service_name (its OTEL_SERVICE_NAME)", "late-svc",
                 info[0].get("service_name"))
        check_eq("target after the drop: deployment_environment (its OTEL_RESOURCE_ATTRIBUTES)",
                 "drop-test", info[0].get("deployment_environment"))
        check_eq("target after the drop: process_executable_name (its /proc/PID/exe)",
                 os.path.basename(os.path.realpath(shutil.which("node"))),
                 info[0].get("process_executable_name"))


def _as_nobody(procs, args, env):
    """Run a copy of the agent nobody can execute, as nobody, until it exits
    (or 10 s); (exit code or None, stderr lines)."""
    tmp = tempfile.mkdtemp()
    try:
        os.chmod(tmp, 0o755)
        copy = os.path.join(tmp, "otel-agent")
        shutil.copy(agent_path(), copy)
        os.chmod(copy, 0o755)
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", copy,
                "--listen", f"127.0.0.1:{free_port()}"] + list(args)
        try:
            r = subprocess.run(argv, env=env, capture_output=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            return r.returncode, r.stderr.decode(errors="replace").strip().splitlines()
        except subprocess.TimeoutExpired as e:
            return None, (e.stderr or b"").decode(errors="replace").strip().splitlines()
    finally:
        shutil.rmtree(tmp)


@needs("root", "setpriv")
def test_unprivileged_start():
    """As nobody, with a root target whose FEATURE_OTEL=true, and with a
    --comm that matches nothing yet: one line saying privilege is missing,
    exit 1 as the other start-up errors, no word of FEATURE_OTEL."""
    with Procs() as procs:
        target = procs.spawn(["sleep", "60"],
                             env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        env = env_without("FEATURE_OTEL")
        for tag, args in (("--pid of a root target", ["--pid", str(target.pid)]),
                          ("--comm matching nothing", ["--comm", "oa-none-yet"])):
            rc, err = _as_nobody(procs, args, env)
            check_eq(f"as nobody, {tag}: exit", 1, rc)
            check_eq(f"as nobody, {tag}: stderr lines {err!r}", 1, len(err))
            check("not enough privilege" in err[0] and "CAP_BPF" in err[0]
                  and "root" in err[0],
                  f"as nobody, {tag}: want 'not enough privilege ... root ... CAP_BPF' got "
                  f"{err[0]!r}")
            check("FEATURE_OTEL" not in err[0],
                  f"as nobody, {tag}: want no FEATURE_OTEL got {err[0]!r}")


@needs("root")
def test_user_option():
    """--user: an unknown user is a usage error (2) before anything is
    loaded; --user with a uid serves as that uid."""
    with Procs() as procs:
        r = subprocess.run([agent_path(), "--pid", str(os.getpid()), "--feature-otel=true",
                            "--user", "oa-no-such-user", "--listen",
                            f"127.0.0.1:{free_port()}"], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        err = r.stderr.decode(errors="replace").strip().splitlines()
        check_eq("--user unknown: exit", 2, r.returncode)
        check_eq(f"--user unknown: stderr lines {err!r}", 1, len(err))
        check("no such user" in err[0], f"--user unknown: want 'no such user' got {err[0]!r}")
        agent, _, _ = procs.agent([os.getpid()], ["--feature-otel=false", "--user", "4242"],
                                  wait_body=("disabled",))
        st = _status(f"/proc/{agent.pid}/status")
        check_eq("--user 4242: Uid", ["4242"] * 4, st["Uid"].split())
        check_eq("--user 4242: Gid", ["4242"] * 4, st["Gid"].split())


@needs("root", "prlimit")
def test_filter_lets_serving_through():
    """Under the filter, what the endpoint does at its start still works (it
    raises its open files limit, prlimit on itself) and scrapes render on
    their thread: no syscall is denied."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = min(512, hard)
    with Procs() as procs:
        srv, port = procs.server("python")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true", "-v"],
                                     prefix=["prlimit", f"--nofile={soft}:{hard}"])
        drive(port, [HELLO] * 2)
        scrape_until(base, 2)
        agent.terminate()
        check_eq("under the filter: exit on SIGTERM", 0, agent.wait(10))
        agent.stderr_file.seek(0)
        log = agent.stderr_file.read().decode(errors="replace")
        check("seccomp: denied" not in log,
              f"under the filter: want no syscall denied got {log[-400:]!r}")
        if soft < hard:
            check(f"open files limit: {hard} (was {soft})" in log,
                  f"under the filter: want the open files limit raised to {hard} got "
                  f"{log[-400:]!r}")


# root, less what reading another user's /proc/PID files takes
_NO_PROC_CAPS = ("setpriv", "--inh-caps=-sys_ptrace,-dac_read_search,-dac_override",
                 "--bounding-set=-sys_ptrace,-dac_read_search,-dac_override")


@needs("root", "setpriv", "node")
def test_missing_proc_caps_named():
    """An agent without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, on a core
    run by another user with FEATURE_OTEL=true: by --pid it names both
    capabilities for the environment it could not read (it named only
    CAP_SYS_PTRACE, which is not enough); by --port it says the open files
    it could not read may hide the server, where it said no target was
    running."""
    with Procs() as procs:
        port = free_port()
        procs.listening(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                        + server_argv("node") + [str(port)], "node as nobody",
                        env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        core = procs.procs[-1]
        env = env_without("FEATURE_OTEL")
        agent, _, _ = procs.agent([core.pid], env=env, wait_body=("disabled",),
                                  prefix=_NO_PROC_CAPS)
        err = agent_stderr(agent)
        check(f"/proc/{core.pid}/environ" in err and "CAP_DAC_READ_SEARCH" in err
              and "CAP_SYS_PTRACE" in err,
              f"--pid: want the environ line naming both capabilities got {err!r}")
        agent, _, _ = procs.agent([], ["--port", str(port)], env=env, wait_body=("disabled",),
                                  prefix=_NO_PROC_CAPS)
        err = agent_stderr(agent)
        check("no target process is running yet" not in err,
              f"--port: want no 'no target process is running yet' got {err!r}")
        check("a --port is listened on by no process the agent could see" in err
              and "CAP_SYS_PTRACE" in err,
              f"--port: want the unreadable open files named got {err!r}")
