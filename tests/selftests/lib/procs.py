"""Processes of a selftest: the test servers, the agent, scripts. Every child
goes through Procs, which kills what it started when the test leaves it, on
failure and timeout too; kill_all_children is the worker's last sweep.

Environment: OTEL_AGENT overrides the agent binary (default ./otel-agent at
the repo root); C_SERVER overrides the C test server (default
.output/tests/c_server).
"""

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

from .checks import TestFailure, check
from .scrape import scrape

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SERVERS = os.path.join(REPO, "tests", "servers")
TARGETS = os.path.join(REPO, "tests", "targets")

HEALTH_TIMEOUT_S = 20.0
LINE_TIMEOUT_S = 10.0

_live = set()  # every Popen not yet reaped, for the last-resort sweep


def kill_all_children():
    """Kill every child this process started that is still alive."""
    for p in list(_live):
        _stop(p, signal.SIGKILL, 2.0)


def _stop(p, sig, timeout):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            p.wait()
    _live.discard(p)
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


class Procs:
    """Context manager owning child processes; kills them all on exit."""

    def __init__(self):
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            _stop(p, signal.SIGTERM, 3.0)
        return False

    def spawn(self, argv, env=None, **kw):
        """Popen(argv) in the repo; its stdout, when a pipe, is read with
        read_line and expect."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=env, cwd=REPO, **kw)
        p.line_buf = b""
        self.procs.append(p)
        _live.add(p)
        return p

    def listening(self, argv, tag, env=None, **kw):
        """Start a server that prints "listening <port>" (or "listening <path>"
        for AF_UNIX) once it accepts connections. Returns (Popen, port or path)."""
        p = self.spawn(argv, env=env, stdout=subprocess.PIPE, **kw)
        line = read_line(p)
        check(line.startswith("listening "), f"{tag}: want 'listening' line got {line!r}")
        where = line.split(None, 1)[1]
        return p, (where if where.startswith("/") else int(where))

    def server(self, kind, *opts, env=None):
        """Start a test server of kind node|python|c (opts: the C server's
        options). Returns (Popen, port), or (Popen, path) with --unix=PATH."""
        if kind == "c":
            return self.listening(server_argv("c") + list(opts) + ["0"],
                                  f"c server {' '.join(opts)}", env=env, stderr=subprocess.PIPE)
        return self.listening(server_argv(kind) + [str(free_port())], f"{kind} server", env=env,
                              stderr=subprocess.PIPE)

    def agent(self, pids, extra=(), env=None, wait_body=("ok",), prefix=()):
        """Start the agent on a free port and wait until /healthz answers 200.

        wait_body: accepted healthz body prefixes; prefix: a command the agent
        runs under (unshare, setpriv). Returns (Popen, base_url, body); the
        agent's stderr so far is agent_stderr(Popen).
        """
        port = free_port()
        argv = list(prefix) + [agent_path()]
        for pid in pids:
            argv += ["--pid", str(pid)]
        argv += ["--listen", f"127.0.0.1:{port}"] + list(extra)
        err = tempfile.TemporaryFile()
        p = self.spawn(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        p.stderr_file = err
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        status, body = None, ""
        while time.monotonic() < deadline:
            if p.poll() is not None:
                err.seek(0)
                msg = err.read().decode(errors="replace").strip().splitlines()
                raise TestFailure(f"agent exited {p.returncode} before /healthz: "
                                  f"{msg[-1] if msg else '(no stderr)'}")
            status, _, body = scrape(base + "/healthz", timeout=1.0)
            if status == 200 and body.startswith(tuple(wait_body)):
                return p, base, body
            time.sleep(0.1)
        raise TestFailure(f"/healthz within {HEALTH_TIMEOUT_S:.0f}s: "
                          f"want 200 {'|'.join(wait_body)} "
                          f"got {status} {body[:40]!r}")

    def traced(self, kind, *opts, extra=(), env=None):
        """A test server (Procs.server) and an enabled agent with extra options
        on it. Returns (server Popen, its port, agent Popen, agent base URL)."""
        srv, port = self.server(kind, *opts, env=env)
        agent, base, _ = self.agent([srv.pid], ["--feature-otel=true"] + list(extra))
        return srv, port, agent, base


def run_agent(pids, extra=(), prefix=(), listen=None, agent=None, timeout=30, env=None):
    """Run the agent (enabled, on pids, under prefix, in env or this
    environment) until it exits, for options it must refuse and machines it
    cannot run on. Returns (exit code, stderr)."""
    argv = list(prefix) + [agent or agent_path()]
    for pid in pids:
        argv += ["--pid", str(pid)]
    argv += ["--listen", listen or f"127.0.0.1:{free_port()}", "--feature-otel=true"] + list(extra)
    r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       env=env)
    return r.returncode, r.stderr.decode(errors="replace").strip()


def agent_stderr(p):
    """What an agent started by Procs.agent wrote to stderr so far."""
    p.stderr_file.seek(0)
    return p.stderr_file.read().decode(errors="replace")


def stderr_so_far(p):
    """Whatever p (stderr=PIPE) wrote to stderr so far, without blocking."""
    out = b""
    while select.select([p.stderr], [], [], 0.05)[0]:
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def _next_line(p, deadline):
    """The next line of p's stdout (without its line end), or None at EOF or
    the deadline; what was read stays in p.line_buf."""
    fd = p.stdout.fileno()
    while b"\n" not in p.line_buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        p.line_buf += chunk
    raw, p.line_buf = p.line_buf.split(b"\n", 1)
    return raw.decode(errors="replace")


def read_line(p, timeout=LINE_TIMEOUT_S):
    """The next line p (Procs.spawn, stdout=PIPE) wrote; at EOF or timeout,
    whatever part of a line came."""
    line = _next_line(p, time.monotonic() + timeout)
    if line is None:
        line, p.line_buf = p.line_buf.decode(errors="replace"), b""
    return line


def expect(p, prefix, timeout=LINE_TIMEOUT_S):
    """Read p's stdout up to a line starting with prefix.

    Returns (that line, the lines read before it)."""
    deadline = time.monotonic() + timeout
    before = []
    while True:
        line = _next_line(p, deadline)
        if line is None:
            raise TestFailure(f"{os.path.basename(p.args[1])} stdout: want a {prefix!r} line "
                              f"got {before[-3:]} (exit {p.poll()})")
        if line.startswith(prefix):
            return line, before
        before.append(line)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_path():
    return os.environ.get("OTEL_AGENT") or os.path.join(REPO, "otel-agent")


def server_argv(kind):
    if kind == "node":
        return ["node", os.path.join(SERVERS, "core.js")]
    if kind == "python":
        return [sys.executable, os.path.join(SERVERS, "py_server.py")]
    if kind == "c":
        path = os.environ.get("C_SERVER") or os.path.join(REPO, ".output", "tests", "c_server")
        check(os.access(path, os.X_OK),
              f"c server: want executable {path} (make builds it) got none")
        return [path]
    raise ValueError(kind)


def env_without(*names, **extra):
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env
