"""Start-up: what loading and attaching costs the agent process itself.

libbpf parses the kernel BTF (/sys/kernel/btf/vmlinux) to load the
programs, and libbpf 1.1 holds two copies of it while it does. The agent
loads in a short-lived child process (src/kernel/load_child.c), so that
the peak stays there. The check compares the agent's own figures with
each other and with the size of the kernel's BTF, never with a byte count
that depends on the machine.
"""

import os

from selftests.lib.bpf import progs_of
from selftests.lib.checks import check, check_series
from selftests.lib.client import drive
from selftests.lib.endpoints import OTEL_DUR, OTEL_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import Procs
from selftests.lib.scrape import scrape_until, series

BTF = "/sys/kernel/btf/vmlinux"


def _status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def _children(pid):
    """Pids whose parent is pid (zombies included)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(name))
    return out


@needs("root", "node")
def test_start_peak_holds_no_kernel_btf():
    """Serving, the agent's peak RSS so far (VmHWM, all of it start-up) is
    above its RSS by less than half the kernel BTF's raw size: libbpf's two
    copies of it never were in the agent (loading in the agent itself, the
    peak was above by twice that size). The loading child is gone, reaped,
    the agent holds the programs, its skeleton's globals are the kernel's
    maps (as after a load in the agent), and it counts."""
    btf_kib = os.path.getsize(BTF) // 1024
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        hwm, rss = _status_kib(agent.pid, "VmHWM"), _status_kib(agent.pid, "VmRSS")
        check(hwm - rss < btf_kib // 2,
              f"start-up peak: want VmHWM - VmRSS < {btf_kib // 2} KiB (half the kernel "
              f"BTF) got VmHWM {hwm} - VmRSS {rss} = {hwm - rss} KiB")
        kids = _children(agent.pid)
        check(not kids, f"loading child: want none left got pids {kids}")
        check(progs_of(agent.pid), "agent bpf programs: want some held by its pid got none")
        with open(f"/proc/{agent.pid}/maps") as f:
            shared = [l for l in f if "bpf-map" in l]
        check(shared, "skeleton globals: want .rodata mapped from its kernel map "
              "(anon_inode:bpf-map in /proc/PID/maps) got no such mapping")
        mix = [("GET", "/hello", None, "/hello", "200")] * 2
        want = drive(port, mix)
        got = scrape_until(base, len(mix))
        check_series("after a child's load: /metrics/otel _count", want,
                     series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))
