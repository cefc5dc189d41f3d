"""The container engine as make test-deploy drives it: podman with the
repo's deploy/containers.conf (runc, no default ulimits), the local Debian
base that stands in for debian:12 and debian:12-slim where no registry can
be reached, the image built by `make image`, and one agent container."""

import json
import os
import subprocess
import tempfile
import time

from selftests.lib.checks import TestFailure, check, check_eq
from selftests.lib.procs import REPO, free_port
from selftests.lib.scrape import scrape

BASE = "localhost/otel-agent-base:bookworm"
IMAGE = "localhost/otel-agent:test-deploy"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(REPO, "deploy", "containers.conf"))
# The machine may not raise rlimits: the container keeps the host's.
RUN_FLAGS = ["--ulimit", "host", "--pid=host", "--network=host"]
HEALTH_TIMEOUT_S = 30.0


def podman(*args, timeout=120, check_rc=True):
    """podman args -> CompletedProcess (text); a non-zero exit fails unless check_rc is off."""
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV,
                       timeout=timeout)
    if check_rc and r.returncode:
        raise TestFailure(f"podman {' '.join(args[:3])}: exit {r.returncode}: "
                          f"{r.stderr.strip().splitlines()[-1:] or ''}")
    return r


def has_image(name):
    return podman("image", "exists", name, check_rc=False).returncode == 0


def make_base(log):
    """The local bookworm base (mmdebstrap minbase, podman import), made once."""
    if has_image(BASE):
        return
    with tempfile.TemporaryDirectory() as tmp:
        tar = os.path.join(tmp, "rootfs.tar")
        r = subprocess.run(["mmdebstrap", "--variant=minbase", "bookworm", tar,
                            "http://deb.debian.org/debian"], capture_output=True, text=True,
                           timeout=900)
        log.write(r.stdout + r.stderr)
        check_eq("mmdebstrap bookworm exit", 0, r.returncode)
        podman("import", tar, BASE, timeout=300)


def build_image(log):
    """make image on the local bases: the Dockerfile users build, as they build it."""
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "image", f"IMAGE={IMAGE}",
                        f"BUILD_BASE={BASE}", f"RUNTIME_BASE={BASE}"],
                       capture_output=True, text=True, env=ENV, timeout=1800)
    log.write(r.stdout + r.stderr)
    if r.returncode:
        tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
        raise TestFailure(f"make image: exit {r.returncode}: {' | '.join(tail)}")


def image_info():
    return json.loads(podman("image", "inspect", IMAGE).stdout)[0]


class Agent:
    """One agent container (a context manager: removed on exit, whatever happened)."""

    def __init__(self, name, flags, args):
        self.name = f"otel-agent-test-{name}-{os.getpid()}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        podman("rm", "-f", self.name, check_rc=False)
        podman("run", "-d", "--name", self.name, *RUN_FLAGS,
               "-e", f"OTEL_AGENT_HEALTH_ADDR=127.0.0.1:{self.port}", *flags, IMAGE,
               *args, "--listen", f"127.0.0.1:{self.port}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        podman("rm", "-f", "-t", "5", self.name, check_rc=False)
        return False

    def state(self):
        return json.loads(podman("inspect", self.name).stdout)[0]["State"]

    def logs(self):
        r = podman("logs", self.name, check_rc=False)
        return [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("otel-agent")]

    def wait_health(self, want=("ok",)):
        """Wait for /healthz 200 with a body starting with one of want; returns the body."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        status, body = None, ""
        while time.monotonic() < deadline:
            if not self.state().get("Running"):
                raise TestFailure(f"{self.name}: exited {self.state().get('ExitCode')} before "
                                  f"/healthz: {(self.logs() or ['(no log)'])[-1]}")
            status, _, body = scrape(self.base + "/healthz", timeout=1.0)
            if status == 200 and body.startswith(tuple(want)):
                return body
            time.sleep(0.2)
        raise TestFailure(f"{self.name} /healthz within {HEALTH_TIMEOUT_S:.0f}s: want 200 "
                          f"{'|'.join(want)} got {status} {body[:60]!r}")

    def wait_exit(self, timeout=HEALTH_TIMEOUT_S):
        """Wait for the container to stop by itself; returns its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.state()
            if not st.get("Running"):
                return st.get("ExitCode")
            time.sleep(0.2)
        raise TestFailure(f"{self.name}: want an exit within {timeout:.0f}s got running")

    def healthcheck(self):
        """The image's HEALTHCHECK, run now (podman schedules it with systemd timers,
        which this machine lacks): True when healthy."""
        return podman("healthcheck", "run", self.name, check_rc=False).returncode == 0

    def host_pid(self):
        pid = self.state().get("Pid")
        check(pid, f"{self.name}: want a host pid got {pid}")
        return pid

    def stop(self):
        """podman stop (SIGTERM, the agent detaches); returns the exit code."""
        podman("stop", "-t", "10", self.name, timeout=60)
        return self.state().get("ExitCode")
