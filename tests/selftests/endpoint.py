"""The endpoint under load nobody should be able to inflict on it: a
slowloris of 2000 connections, 5000 concurrent connections, a header block
trickled forever, a request line with thousands of query parameters.

The agent runs disabled (--feature-otel=false, nothing loaded, no BPF): the
endpoint and its /healthz are the same either way. Everything is on
loopback; hostile clients bind their sockets to other 127/8 addresses, one
per connection where the load is meant to be held, so that the per-IP limit
applies to them and not to the prober on 127.0.0.1.
"""

import resource
import selectors
import socket
import statistics
import threading
import time

from selftests.lib.checks import check
from selftests.lib.procs import Procs

HEALTHZ_BUDGET_MS = 100  # what the issue asks of /healthz under attack
PROBE_TIMEOUT_S = 2.0
PROBE_EVERY_S = 0.1  # _Prober's pace
# No probe waits for a whole burst (1-2.6 s before), with room for a loaded machine
PROBE_WORST_MS = 1000
HEADER_DEADLINE_S = 10  # HTTP_HEADER_DEADLINE_S, src/server/http_server.h


def _raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    check(resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want,
          f"this test's RLIMIT_NOFILE: want >= {want} got {hard} (hard)")


def _disabled_agent(procs):
    """A disabled agent on a sleep process. Returns (port, base URL)."""
    sleeper = procs.spawn(["sleep", "120"])
    _, base, _ = procs.agent([sleeper.pid], ["--feature-otel=false"], wait_body=("disabled",))
    return int(base.rsplit(":", 1)[1]), base


def _connect_from(src, port):
    """A non-blocking connection from src (a 127/8 address) to the agent."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    return s


def _probe(port):
    """GET /healthz from 127.0.0.1 on a new connection -> (status line, ms)."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        status = data.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
    except OSError as e:
        status = f"({e})"
    return status, (time.monotonic() - start) * 1000


def _check_probes(tag, probes):
    """Every probe answered 200, and their median took under HEALTHZ_BUDGET_MS.

    The median, not each probe: the machine runs other tests (2 cores), and a
    probe that happens to land while the scheduler runs something else says
    nothing about the agent; a blocked or saturated endpoint fails every
    probe (the unchanged agent refused or dropped them all).
    """
    bad = [s for s, _ in probes if " 200 " not in s]
    ms = [t for _, t in probes]
    med = statistics.median(ms)
    print(f"{tag}: /healthz ms {' '.join(f'{t:.1f}' for t in ms)} (median {med:.1f})")
    check(not bad, f"{tag}: /healthz want 200 every time got {len(bad)}/{len(probes)} "
          f"failed, first {bad[0] if bad else ''}")
    check(med < HEALTHZ_BUDGET_MS,
          f"{tag}: /healthz median want < {HEALTHZ_BUDGET_MS} ms got {med:.1f} ms")


class _Prober:
    """/healthz probes from 127.0.0.1, a new one every PROBE_EVERY_S, each on a
    thread of its own, until stop(): the load's loop neither delays a probe
    nor waits for one, so the probes see the whole burst (a probe made from
    the load's loop stopped the load while it waited)."""

    def __init__(self, port):
        self.port = port
        self.probes = []
        self._stop = threading.Event()
        self._threads = []
        self._ticker = threading.Thread(target=self._tick)
        self._ticker.start()

    def _one(self):
        self.probes.append(_probe(self.port))

    def _tick(self):
        while not self._stop.wait(PROBE_EVERY_S):
            t = threading.Thread(target=self._one)
            t.start()
            self._threads.append(t)

    def stop(self):
        """Waits for the probes under way -> [(status line, ms)] in the order they ended."""
        self._stop.set()
        self._ticker.join()
        for t in self._threads:
            t.join()
        return self.probes


def _check_worst(tag, probes):
    """All probes but the slowest took under PROBE_WORST_MS: one outlier is
    the scheduler's (2 shared cores), more are the endpoint's."""
    ms = sorted(t for _, t in probes)
    check(len(ms) >= 2 and ms[-2] < PROBE_WORST_MS,
          f"{tag}: /healthz want every probe but one under {PROBE_WORST_MS} ms got "
          f"{sum(t >= PROBE_WORST_MS for t in ms)} of {len(ms)} over, worst {ms[-1]:.0f} ms")


def _open_count(socks):
    """How many of socks the server has not closed (a read would block)."""
    n = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK):
                n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def test_slowloris():
    """2000 connections from 2000 addresses (the per-address limit holds
    them all) trickling a header byte a second: /healthz still answers fast."""
    _raise_nofile(2000 + 256)
    with Procs() as procs:
        port, _ = _disabled_agent(procs)
        socks = [_connect_from(f"127.0.{1 + i // 200}.{1 + i % 200}", port) for i in range(2000)]
        line = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 64
        prober = _Prober(port)
        for i in range(6):
            for s in socks:
                try:
                    s.send(line[i:i + 1])
                except OSError:
                    pass  # refused or closed by the server: what it may do
            time.sleep(1)
        probes = prober.stop()
        held = _open_count(socks)
        for s in socks:
            s.close()
        tag = "during 2000-connection slowloris"
        print(f"{tag}: {held} connections held")
        # the slowloris is real: the endpoint holds (nearly) all of them
        check(held >= 1900, f"{tag}: want >= 1900 of 2000 connections held got {held}")
        _check_probes(tag, probes)
        _check_worst(tag, probes)


def test_header_deadline():
    """A header block trickled a byte every 0.5 s is closed at the header
    deadline: activity does not extend it (it reset a 30 s timeout before)."""
    with Procs() as procs:
        port, _ = _disabled_agent(procs)
        socks = [_connect_from("127.0.0.4", port) for _ in range(4)]
        line = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200
        start = time.monotonic()
        limit = HEADER_DEADLINE_S + 3
        i = 0
        while time.monotonic() - start < limit and _open_count(socks):
            for s in socks:
                try:
                    s.send(line[i:i + 1])
                except OSError:
                    pass
            i += 1
            time.sleep(0.5)
        took = time.monotonic() - start
        left = _open_count(socks)
        for s in socks:
            s.close()
        check(left == 0, f"trickling connections after {took:.1f} s: "
              f"want all 4 closed got {left} open")
        check(took > HEADER_DEADLINE_S - 2,
              f"trickling connections: closed after {took:.1f} s, before the "
              f"{HEADER_DEADLINE_S} s deadline")


def test_concurrent_5000():
    """5000 concurrent /healthz connections from 5000 addresses: /healthz
    probes made all through the burst answer fast, and no connection hangs."""
    _raise_nofile(5000 + 256)
    with Procs() as procs:
        port, _ = _disabled_agent(procs)
        sel = selectors.DefaultSelector()
        req = b"GET /healthz HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n"
        pending = {}
        prober = _Prober(port)
        for i in range(5000):
            s = _connect_from(f"127.0.{1 + i // 200}.{1 + i % 200}", port)
            sel.register(s, selectors.EVENT_WRITE)
            pending[s] = b""
        answered = refused = 0
        end = time.monotonic() + 15
        while pending and time.monotonic() < end:
            for key, ev in sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    if ev & selectors.EVENT_WRITE:
                        s.send(req)
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if chunk:
                    pending[s] += chunk
                    continue
                if b" 200 " in pending[s].split(b"\r\n", 1)[0]:
                    answered += 1
                else:
                    refused += 1
                sel.unregister(s)
                s.close()
                del pending[s]
        probes = prober.stop()
        hung = len(pending)
        for s in pending:
            s.close()
        print(f"5000 concurrent: {answered} answered, {refused} closed without an answer, "
              f"{hung} hung")
        tag = "during 5000 concurrent connections"
        _check_probes(tag, probes)
        _check_worst(tag, probes)
        check(hung == 0, f"5000 concurrent: want none hung after 15 s got {hung}")


def _first_line(port, req):
    """Send req on a new connection -> (the answer's status line, s).

    "(closed)" when the connection was closed without an answer, "(timeout)"
    after 10 s. The server may answer and close before it has read all of
    req: a failed send still waits for what it answered.
    """
    start = time.monotonic()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(req)
        except OSError:
            pass
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            data = b"(timeout)"
    line = data.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
    return line, time.monotonic() - start


def _check_fast_answer(tag, port, req, want):
    line, took = _first_line(port, req)
    print(f"{tag} ({len(req)} bytes): {line!r} after {took:.2f} s")
    check(line.startswith(f"HTTP/1.1 {want} "),
          f"{tag}: want a {want} got {line!r} after {took:.1f} s")
    # an answer without waiting for anything; 3 s leaves room for a loaded machine
    check(took < 3, f"{tag}: want the {want} within 3 s took {took:.1f} s")


def test_many_query_params():
    """A request line with 4000 query parameters (about 31 KB), or 8000 empty
    ones in 8 KB, gets a 414 at once (before: the first was cut without an
    answer, the second held for 30 s); a few parameters are answered."""
    with Procs() as procs:
        port, _ = _disabled_agent(procs)
        query = "&".join(f"p{i}=1" for i in range(4000))
        _check_fast_answer("4000 query parameters", port,
                           f"GET /healthz?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414)
        _check_fast_answer("8000 empty query parameters", port,
                           b"GET /healthz?" + b"&" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)
        _check_fast_answer("2 query parameters", port,
                           b"GET /healthz?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n", 200)


def test_large_header_block():
    """A header block larger than a connection's memory (32 KiB), in large
    headers or in 30000 tiny ones, gets a 431 at once."""
    with Procs() as procs:
        port, _ = _disabled_agent(procs)
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        _check_fast_answer("400 headers of 1 KB", port,
                           head + (b"X-Big: " + b"v" * 1000 + b"\r\n") * 400 + b"\r\n", 431)
        _check_fast_answer("30000 empty headers", port, head + b"a:\r\n" * 30000 + b"\r\n", 431)
