#!/usr/bin/env python3
"""The test make vmtest runs inside each kernel's VM (started by the
initramfs's /init, tests/vmtest/init).

For the Python server and then the Node server (core.js), each started with
FEATURE_OTEL=true as a user would start core:
  1. a keep-alive connection is opened and used once before the agent
     attaches (that request is not counted);
  2. the agent starts on the server's pid (it reads FEATURE_OTEL from the
     target) and answers /healthz;
  3. the standard mix (keep-alive and fresh connections), five requests
     pipelined in one write, and three more requests on the connection of 1.;
  4. both endpoints must show exactly those requests per method, route and
     status (selftests.lib.endpoints.check_traffic: /metrics and
     /metrics/otel names, histograms, the agent's own counters);
  5. otel_agent_build_info names the build of the programs the kernel
     should get (bpf/variant.bpf.h): compat before 5.17, current after.

Prints progress lines "vmtest: ..." and ends with one line the host reads:
"VMTEST-RESULT PASS N/N requests exact, BUILD programs" or "VMTEST-RESULT FAIL <why>"; when
the agent exits before it serves, <why> is "agent exited N: <its last line>".
Only the standard library and the selftests' lib (which needs nothing more)
are used: the VM has a minimal Python.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from selftests.lib import endpoints  # noqa: E402
from selftests.lib.checks import TestFailure  # noqa: E402
from selftests.lib.client import (MIX, PIPELINE, Client, add, drive, drive_on,  # noqa: E402
                                   request)
from selftests.lib.procs import free_port  # noqa: E402
from selftests.lib.scrape import parse_prom, scrape  # noqa: E402

# Emulated CPUs (qemu TCG) are 10-50 times slower than the host: loading the
# BPF programs and starting Node take seconds, not milliseconds.
SERVER_START_S = 60.0
AGENT_START_S = 120.0
endpoints.SETTLE_S = 30.0

AGENT = os.path.join(REPO, "otel-agent")
SERVERS = {
    "python": [sys.executable, os.path.join(REPO, "tests", "servers", "py_server.py")],
    "node": ["node", os.path.join(REPO, "tests", "servers", "core.js")],
}


# Sent on the connection opened before the agent, once it is attached.
ON_OLD_CONNECTION = [
    ("GET", "/items/9", b"", "/items/{id}", "404"),
    ("POST", "/items", b'{"n":3}', "/items", "201"),
    ("GET", "/boom", b"", "/boom", "500"),
]


class AgentExited(Exception):
    """The agent ended before it served: str() is the result line's reason."""


def log(msg):
    print(f"vmtest: {msg}", flush=True)


def start_server(kind, procs):
    port = free_port()
    env = dict(os.environ, FEATURE_OTEL="true")
    p = subprocess.Popen(SERVERS[kind] + [str(port)], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE)
    procs.append(p)
    line = b""
    deadline = time.monotonic() + SERVER_START_S
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline and not line.endswith(b"\n") and p.poll() is None:
        chunk = p.stdout.read(64)
        if chunk:
            line += chunk
        else:
            time.sleep(0.05)
    if not line.startswith(b"listening "):
        raise TestFailure(f"{kind} server: want 'listening' got {line!r} (exit {p.poll()})")
    return p, port


def start_agent(pid, procs):
    """The agent on pid, FEATURE_OTEL taken from the target, up to /healthz."""
    port = free_port()
    err = tempfile.TemporaryFile()
    p = subprocess.Popen([AGENT, "--pid", str(pid), "--listen", f"127.0.0.1:{port}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    p.stderr_file = err
    procs.append(p)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + AGENT_START_S
    status, body = None, ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            lines = agent_stderr(p).strip().splitlines()
            for line in lines:
                print(f"agent: {line}", flush=True)
            raise AgentExited(f"agent exited {p.returncode}: "
                              f"{lines[-1] if lines else '(no stderr)'}")
        status, _, body = scrape(base + "/healthz", timeout=2.0)
        if status == 200 and body.startswith("ok"):
            return p, base
        time.sleep(0.2)
    raise TestFailure(f"agent /healthz within {AGENT_START_S:.0f}s: want 200 ok "
                      f"got {status} {body[:60]!r}")


def agent_stderr(p):
    p.stderr_file.seek(0)
    return p.stderr_file.read().decode(errors="replace")


def stop(procs):
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def expected_programs():
    """The build of the BPF programs this kernel should get: compat before 5.17."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return "compat" if (major, minor) < (5, 17) else "current"


def check_programs(kind, base):
    """otel_agent_build_info names the build the feature probe chose."""
    _, _, body = scrape(base + "/metrics/otel")
    info = parse_prom(body).get("otel_agent_build_info", [])
    got = info[0][0].get("bpf_programs") if info else None
    if got != expected_programs():
        raise TestFailure(f"{kind}: bpf_programs label: want {expected_programs()} got {got}")


def one_server(kind):
    """Drive kind's server under the agent; returns the requests checked."""
    procs = []
    try:
        srv, port = start_server(kind, procs)
        old = Client(port)
        old.exchange("GET", "/hello", want=200)

        t0 = time.monotonic()
        agent, base = start_agent(srv.pid, procs)
        log(f"{kind}: agent attached in {time.monotonic() - t0:.1f} s")

        want = drive(port, MIX)
        c = Client(port)
        try:
            c.send(b"".join(request(m, p, b) for m, p, b, _, _ in PIPELINE))
            for m, p, _, r, s in PIPELINE:
                status, _, _ = c.response()
                if str(status) != s:
                    raise TestFailure(f"{kind} pipelined {m} {p}: want {s} got {status}")
                add(want, (m, r, s))
        finally:
            c.close()
        drive_on(old, ON_OLD_CONNECTION, want)
        old.close()

        endpoints.check_traffic(kind, base, want)
        check_programs(kind, base)
        if agent.poll() is not None:
            raise TestFailure(f"{kind}: agent exited {agent.returncode} while serving")
        return sum(want.values())
    finally:
        stop(procs)


def main():
    log(f"kernel {os.uname().release}")
    done = 0
    try:
        for kind in ("python", "node"):
            t0 = time.monotonic()
            n = one_server(kind)
            done += n
            log(f"{kind}: {n} requests exact on both endpoints ({time.monotonic() - t0:.1f} s)")
    except AgentExited as e:
        print(f"VMTEST-RESULT FAIL {e}", flush=True)
        return 1
    except (TestFailure, OSError) as e:
        print(f"VMTEST-RESULT FAIL {e}", flush=True)
        return 1
    print(f"VMTEST-RESULT PASS {done}/{done} requests exact, {expected_programs()} programs",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
