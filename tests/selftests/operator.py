"""An operator's mistakes and signals: each gets one clear line.

--listen checked before anything is loaded (range, form, :0 and the port
bound), a config file that is not a regular file, the signals a terminal, a
log pipe or a process manager sends, --pid 1 and kernel threads, and a start
without the right to read the target's environment.

Most run the agent disabled (--feature-otel=false): nothing is loaded, so
they need no root.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from selftests.lib.checks import check, check_eq
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, agent_path, agent_stderr, env_without, free_port
from selftests.lib.scrape import scrape

PF_KTHREAD = 0x00200000


def _run(args, timeout=10):
    """Run the agent disabled with args until it exits; (exit code, stderr lines)."""
    argv = [agent_path(), "--feature-otel=false"] + list(args)
    r = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr.decode(errors="replace").strip().splitlines()


def _until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _sleeper(procs, env=None):
    return procs.spawn(["sleep", "60"], env=env)


@needs()
def test_listen_out_of_range():
    """--listen 127.0.0.1:99999: exit 2 with one line, not a wrapped port."""
    with Procs() as procs:
        target = _sleeper(procs)
        for listen in ("127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1"):
            rc, err = _run(["--pid", str(target.pid), "--listen", listen])
            check_eq(f"--listen {listen}: exit", 2, rc)
            check_eq(f"--listen {listen}: stderr", 1, len(err))
            check("0 to 65535" in err[0] and listen in err[0],
                  f"--listen {listen}: want a line naming it and 0 to 65535 got {err[0]!r}")


@needs()
def test_listen_malformed():
    """A malformed --listen is a usage error (exit 2) before anything is loaded."""
    with Procs() as procs:
        target = _sleeper(procs)
        for listen in ("9464", "127.0.0.1:http", "[::1:9464", "127.0.0.1:94 64"):
            rc, err = _run(["--pid", str(target.pid), "--listen", listen])
            check_eq(f"--listen {listen!r}: exit", 2, rc)
            check_eq(f"--listen {listen!r}: stderr lines {err}", 1, len(err))
            check(err[0].startswith("otel-agent: --listen"),
                  f"--listen {listen!r}: want 'otel-agent: --listen ...' got {err[0]!r}")


@needs()
def test_listen_port_zero():
    """--listen 127.0.0.1:0: a random port, and the log names the port actually bound."""
    with Procs() as procs:
        target = _sleeper(procs)
        err = tempfile.TemporaryFile()
        agent = procs.spawn([agent_path(), "--pid", str(target.pid), "--feature-otel=false",
                             "--listen", "127.0.0.1:0"], stdout=subprocess.DEVNULL, stderr=err)
        agent.stderr_file = err
        found = []

        def serving():
            found[:] = re.findall(r"serving http://127\.0\.0\.1:(\d+)/", agent_stderr(agent))
            return found or agent.poll() is not None

        _until(serving)
        check(found, f":0: want a 'serving http://127.0.0.1:PORT/' line got "
                     f"{agent_stderr(agent).strip()!r}")
        port = int(found[0])
        check(port != 0, f":0: want the bound port in the log got {port}")
        status, _, body = scrape(f"http://127.0.0.1:{port}/healthz")
        check_eq(f":0: GET /healthz on the logged port {port}", 200, status)


@needs()
def test_config_not_a_regular_file():
    """--config /dev/zero, a FIFO without writer, a directory: one line each, exit 2, at once."""
    with Procs() as procs:
        target = _sleeper(procs)
        tmp = tempfile.mkdtemp()
        try:
            fifo = os.path.join(tmp, "fifo")
            os.mkfifo(fifo)
            for path, what in (("/dev/zero", "character device"), (fifo, "FIFO"),
                               (tmp, "directory")):
                start = time.monotonic()
                try:
                    rc, err = _run(["--pid", str(target.pid), "--listen",
                                    f"127.0.0.1:{free_port()}", "--config", path], timeout=5)
                except subprocess.TimeoutExpired:
                    check(False, f"--config {path}: want an error at once got still running "
                                 "after 5 s")
                took = time.monotonic() - start
                check_eq(f"--config {path}: exit", 2, rc)
                check_eq(f"--config {path}: stderr {err}", 1, len(err))
                check(what in err[0] and "regular file" in err[0],
                      f"--config {path}: want '{what} ... regular file' got {err[0]!r}")
                check(took < 2, f"--config {path}: want an answer within 2 s got {took:.1f} s")
        finally:
            shutil.rmtree(tmp)


@needs()
def test_config_too_large():
    """A config file over the 1 MiB cap is refused with one line, exit 2."""
    with Procs() as procs:
        target = _sleeper(procs)
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            line = "# " + "x" * 100 + "\n"
            f.write(line * ((1 << 20) // len(line) + 1))
            f.flush()
            rc, err = _run(["--pid", str(target.pid), "--listen", f"127.0.0.1:{free_port()}",
                            "--config", f.name])
        check_eq("config over 1 MiB: exit", 2, rc)
        check_eq(f"config over 1 MiB: stderr {err}", 1, len(err))
        check("1 MiB" in err[0], f"config over 1 MiB: want the cap named got {err[0]!r}")


def _disabled_agent(procs, target):
    agent, base, _ = procs.agent([target.pid], ["--feature-otel=false"],
                                 wait_body=("disabled",))
    return agent, base


@needs()
def test_signals_that_do_not_end():
    """SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE: the agent says so and keeps serving."""
    want = {
        signal.SIGHUP: "SIGHUP received: reloading the configuration is not supported",
        signal.SIGUSR1: "SIGUSR1 received; ignored",
        signal.SIGUSR2: "SIGUSR2 received; ignored",
    }
    with Procs() as procs:
        target = _sleeper(procs)
        agent, base = _disabled_agent(procs, target)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
            agent.send_signal(sig)
            if sig in want:
                _until(lambda: want[sig] in agent_stderr(agent) or agent.poll() is not None)
                check(want[sig] in agent_stderr(agent),
                      f"{sig.name}: want {want[sig]!r} in stderr got "
                      f"{agent_stderr(agent).strip()[-200:]!r}")
            else:
                time.sleep(0.3)
            check(agent.poll() is None,
                  f"{sig.name}: want the agent running got exit {agent.returncode}")
            status, _, _ = scrape(base + "/healthz")
            check_eq(f"after {sig.name}: GET /healthz", 200, status)


@needs()
def test_signals_that_end():
    """SIGINT, SIGTERM, SIGQUIT: logged by name, detach, exit 0."""
    with Procs() as procs:
        target = _sleeper(procs)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            agent, _ = _disabled_agent(procs, target)
            agent.send_signal(sig)
            try:
                rc = agent.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            check_eq(f"{sig.name}: exit", 0, rc)
            line = f"{sig.name} received; detaching"
            check(line in agent_stderr(agent),
                  f"{sig.name}: want {line!r} got {agent_stderr(agent).strip()[-200:]!r}")


@needs()
def test_pid_1_warns():
    """--pid 1: a warning that its descendants are every process; the agent runs."""
    with Procs() as procs:
        agent, _, _ = procs.agent([1], ["--feature-otel=false"], wait_body=("disabled",))
        err = agent_stderr(agent)
        check("--pid 1 " in err and "every process" in err,
              f"--pid 1: want a warning saying its descendants are every process got "
              f"{err.strip()!r}")


def _kernel_thread():
    """A kernel thread's pid, from the flags of /proc/PID/stat; None if none is visible."""
    for name in sorted(os.listdir("/proc")):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[6]) & PF_KTHREAD:
            return int(name)
    return None


@needs()
def test_kernel_thread_refused():
    """--pid of a kernel thread (kthreadd, or one of its children): exit 2 saying why."""
    pid = _kernel_thread()
    check(pid is not None, "kernel thread: want one visible in /proc got none")
    for p in sorted({pid, 2}):
        rc, err = _run(["--pid", str(p), "--listen", f"127.0.0.1:{free_port()}"])
        check_eq(f"--pid {p} (kernel thread): exit", 2, rc)
        check_eq(f"--pid {p}: stderr {err}", 1, len(err))
        check("kernel thread" in err[0],
              f"--pid {p}: want 'kernel thread' in the line got {err[0]!r}")


@needs("root", "setpriv")
def test_environ_not_readable():
    """Root with only the capabilities to load and attach (no CAP_SYS_PTRACE,
    CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE): the FEATURE_OTEL of a target of
    another user cannot be read: say so, not 'unset'. (With no privilege at
    all the agent stops at once: privilege.py.)"""
    with Procs() as procs:
        target = procs.spawn(["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups",
                              "sleep", "60"],
                             env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        tmp = tempfile.mkdtemp()
        try:
            os.chmod(tmp, 0o755)
            copy = os.path.join(tmp, "otel-agent")
            shutil.copy(agent_path(), copy)
            os.chmod(copy, 0o755)
            port = free_port()
            err = tempfile.TemporaryFile()
            agent = procs.spawn(["setpriv", "--inh-caps=-all",
                                 "--bounding-set=-all,+bpf,+perfmon,+setuid,+setgid", copy,
                                 "--pid", str(target.pid), "--listen",
                                f"127.0.0.1:{port}"], env=env_without("FEATURE_OTEL"),
                                stdout=subprocess.DEVNULL, stderr=err)
            agent.stderr_file = err
            got = []

            def answered():
                got[:] = scrape(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                return got[0] == 200 or agent.poll() is not None

            _until(answered, 10)
        finally:
            shutil.rmtree(tmp)
        log = agent_stderr(agent)
        check(agent.poll() is None, f"without CAP_SYS_PTRACE: want the agent serving /healthz got exit "
                                    f"{agent.returncode}: {log.strip()[-200:]!r}")
        check("unset in" not in log, f"without CAP_SYS_PTRACE: want no 'unset in' got {log.strip()!r}")
        check(f"/proc/{target.pid}/environ" in log and "Permission denied" in log
              and "root" in log,
              f"without CAP_SYS_PTRACE: want /proc/{target.pid}/environ, Permission denied and root in the "
              f"log got {log.strip()!r}")
        check("Permission denied" in got[2],
              f"without CAP_SYS_PTRACE: want /healthz to say permission got {got[2]!r}")
