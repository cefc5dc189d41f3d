"""End-to-end selftests for otel-agent: real BPF, real servers, real scrapes.

Each test starts its own server(s) on random free ports, attaches the agent to
their pids only, drives a known request mix and asserts exact series values.
A failed check raises TestFailure with a short tag saying what was expected
and what came ("GET /items/{id} 200: want 2 got 1").

tests/run_tests.py imports this module and runs every function in TESTS with
a per-test timeout; each test kills every process it started in a finally
block, so nothing is left behind even on failure or timeout.

Environment: OTEL_AGENT overrides the agent binary (default ./otel-agent at
the repo root); C_SERVER overrides the C test server (default
.output/tests/c_server). Needs root (BPF), node, promtool and bpftool.
"""

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = os.path.join(REPO, "tests", "servers")

HEALTH_TIMEOUT_S = 20.0
SETTLE_TIMEOUT_S = 2.0

OTEL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
PLUGIN_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

SELF_METRICS = [
    "otel_agent_build_info",
    "otel_agent_targets",
    "otel_agent_requests_total",
    "otel_agent_responses_total",
    "otel_agent_unmatched_responses_total",
    "otel_agent_requests_dropped_total",
    "otel_agent_paths_truncated_total",
    "otel_agent_not_http_connections_total",
    "otel_agent_upgraded_connections_total",
    "otel_agent_connection_errors_total",
    "otel_agent_stale_connections_reclaimed_total",
    "otel_agent_targets_added_total",
    "otel_agent_map_update_errors_total",
]


class TestFailure(AssertionError):
    """A check failed; str() is the short tag."""


def check(cond, tag):
    if not cond:
        raise TestFailure(tag)


def check_eq(tag, want, got):
    if want != got:
        raise TestFailure(f"{tag}: want {want} got {got}")


# ---------------------------------------------------------------------------
# Processes: every child goes through Procs so it is always reaped.
# ---------------------------------------------------------------------------

_live = set()  # every Popen not yet reaped, for the runner's last-resort sweep


def kill_all_children():
    """Kill every child this module started that is still alive."""
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
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=env, cwd=REPO, **kw)
        self.procs.append(p)
        _live.add(p)
        return p

    def server(self, kind, env=None):
        """Start a test server of kind node|python|c on a free port.

        Returns (Popen, port) once it printed "listening <port>".
        """
        port = free_port()
        argv = server_argv(kind) + [str(port)]
        p = self.spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = _read_line(p, 10.0)
        check(line.startswith("listening "), f"{kind} server: want 'listening' line got {line!r}")
        return p, int(line.split()[1])

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


def agent_stderr(p):
    """What an agent started by Procs.agent wrote to stderr so far."""
    p.stderr_file.seek(0)
    return p.stderr_file.read().decode(errors="replace")


def _read_line(p, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


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


# ---------------------------------------------------------------------------
# HTTP: scraping, parsing Prometheus text, driving traffic.
# ---------------------------------------------------------------------------


def scrape(url, timeout=3.0):
    """GET url -> (status, content_type, body); (None, '', error) if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        return None, "", str(e)


def _parse_labels(s, i):
    """Parse '{a="x",b="y"}' starting at s[i] == '{'. Returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        while s[i] in " ,":
            i += 1
        if s[i] == "}":
            return labels, i + 1
        eq = s.index("=", i)
        name = s[i:eq].strip()
        if s[eq + 1] != '"':
            raise ValueError(f"label {name}: value not quoted")
        j, val = eq + 2, []
        while s[j] != '"':
            if s[j] == "\\":
                j += 1
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(s[j], "\\" + s[j]))
            else:
                val.append(s[j])
            j += 1
        labels[name] = "".join(val)
        i = j + 1


def parse_prom(text):
    """Prometheus text -> {sample name: [(labels dict, float value), ...]}."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            brace = line.find("{")
            space = line.find(" ")
            if brace != -1 and (space == -1 or brace < space):
                name = line[:brace]
                labels, end = _parse_labels(line, brace)
                rest = line[end:].split()
            else:
                name, rest, labels = line[:space], line[space:].split(), {}
            value = float(rest[0])
        except (ValueError, IndexError) as e:
            raise TestFailure(f"parse line {lineno}: want sample got {line[:60]!r} ({e})")
        out.setdefault(name, []).append((labels, value))
    return out


def series(metrics, name, keys, where=None):
    """Sum samples of `name` grouped by the tuple of label values `keys`."""
    out = {}
    for labels, value in metrics.get(name, []):
        if where and any(labels.get(k) != v for k, v in where.items()):
            continue
        key = tuple(labels.get(k) for k in keys)
        out[key] = out.get(key, 0) + value
    return out


def total(metrics, name):
    return sum(v for _, v in metrics.get(name, []))


def check_series(tag, want, got):
    """Exact comparison of {key tuple: value} maps with a readable diff."""
    diffs = []
    for k in sorted(set(want) | set(got), key=str):
        w, g = want.get(k, 0), got.get(k, 0)
        if w != g:
            diffs.append(f"{' '.join(str(x) for x in k)}: want {w:g} got {g:g}")
    if diffs:
        more = f" (+{len(diffs) - 4} more)" if len(diffs) > 4 else ""
        raise TestFailure(f"{tag}: " + "; ".join(diffs[:4]) + more)


# The standard mix: (method, raw path, body, plugin path / otel route, status).
MIX = (
    [("GET", "/hello?x=1", None, "/hello", "200")] * 7
    + [("POST", "/items", b'{"name":"widget"}', "/items", "201")] * 3
    + [("PUT", "/items/42", b'{"name":"gadget"}', "/items/{id}", "200")] * 2
    + [("DELETE", "/items/7", None, "/items/{id}", "200")] * 2
    + [("GET", "/nope", None, "/nope", "404")] * 4
    + [("GET", "/boom", None, "/boom", "500")] * 2
    + [("GET", "/slow", None, "/slow", "200")] * 3
)


def drive(port, mix):
    """Send mix: even indexes on one keep-alive connection, odd ones each on a
    fresh connection. Checks every response status. Returns the expected
    {(method, route, status): count}."""
    want = {}
    keep = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for i, (method, path, body, route, status) in enumerate(mix):
            conn = keep if i % 2 == 0 else http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request(method, path, body=body)
                resp = conn.getresponse()
                resp.read()
                check_eq(f"server {method} {path}", status, str(resp.status))
            finally:
                if conn is not keep:
                    conn.close()
            key = (method, route, status)
            want[key] = want.get(key, 0) + 1
    finally:
        keep.close()
    return want


def scrape_until(base, want_total, keys=("otel", "plugin")):
    """Scrape both endpoints until their request totals reach want_total (or
    SETTLE_TIMEOUT_S passes). Returns {'otel': (metrics, body), 'plugin': ...}."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        got = {}
        for key, path, count_name in (
            ("otel", "/metrics/otel", "http_server_request_duration_seconds_count"),
            ("plugin", "/metrics", "http_requests_total"),
        ):
            if key not in keys:
                continue
            status, ctype, body = scrape(base + path)
            check_eq(f"GET {path} status", 200, status)
            check(ctype.startswith("text/plain"),
                  f"GET {path} content-type: want text/plain got {ctype!r}")
            m = parse_prom(body)
            got[key] = (m, body, total(m, count_name))
        if all(v[2] >= want_total for v in got.values()) or time.monotonic() > deadline:
            return {k: (v[0], v[1]) for k, v in got.items()}
        time.sleep(0.1)


def promtool_check(path, body):
    """`promtool check metrics` on body; only /metrics may carry the
    camelCase errorType lint (the old plugin's label name)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                       capture_output=True, timeout=30)
    if r.returncode == 0:
        return
    out = (r.stdout + r.stderr).decode(errors="replace").strip().splitlines()
    camel = [l for l in out if "http_request_errors_total" in l and "camelCase" in l]
    if path == "/metrics" and r.returncode == 3 and out and len(camel) == len(out):
        return
    raise TestFailure(f"promtool check metrics {path}: want exit 0 got {r.returncode}: "
                      f"{out[0] if out else '(no output)'}")


def bpf_progs():
    """`bpftool -j prog show` -> {prog id: set of pids holding it}.

    The holder pids come from bpftool's "pids" field when bpftool was built
    with skeleton support (Debian's 7.1 is not, so the field is absent)."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, timeout=30)
    check_eq("bpftool -j prog show exit", 0, r.returncode)
    progs = json.loads(r.stdout or b"[]")
    return {p["id"]: {x.get("pid") for x in p.get("pids", [])} for p in progs}


def fd_prog_ids(pid):
    """Program ids referenced by pid's open fds (prog and link fds carry a
    "prog_id:" line in /proc/PID/fdinfo): the same facts bpftool's "pids"
    field reports, readable without a skeleton-enabled bpftool."""
    ids = set()
    base = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(base)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open(os.path.join(base, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def progs_of(pid):
    """Ids of the loaded BPF programs held by pid (bpftool pids or its fds)."""
    progs = bpf_progs()
    held = {prog_id for prog_id, holders in progs.items() if pid in holders}
    return held | (fd_prog_ids(pid) & set(progs))


# ---------------------------------------------------------------------------
# Assertions on a full scrape of the standard mix.
# ---------------------------------------------------------------------------


def _bucket(metrics, name, where, le):
    for labels, value in metrics.get(name, []):
        if all(labels.get(k) == v for k, v in where.items()) and float(labels.get("le")) == le:
            return value
    return None


def check_histograms(tag, metrics, base, keys, bounds):
    """Every series: buckets exactly `bounds` + +Inf, cumulative, +Inf == _count."""
    counts = series(metrics, base + "_count", keys)
    check(counts, f"{tag} {base}_count: want series got none")
    for key, count in counts.items():
        where = dict(zip(keys, key))
        name = " ".join(str(k) for k in key)
        les, prev = [], -1
        for labels, value in metrics.get(base + "_bucket", []):
            if all(labels.get(k) == v for k, v in where.items()):
                les.append(float(labels["le"]))
                check(value >= prev,
                      f"{tag} {name} buckets: want cumulative got {value:g} after {prev:g}")
                prev = value
        check_eq(f"{tag} {name} le bounds", bounds + [float("inf")], les)
        inf = _bucket(metrics, base + "_bucket", where, float("inf"))
        check_eq(f"{tag} {name} +Inf vs _count", count, inf)
        check(key in series(metrics, base + "_sum", keys), f"{tag} {name}: want _sum got none")


def check_full_scrape(got, want, server_pid, sent):
    """Exact per-series checks of both endpoints after driving MIX."""
    otel, otel_body = got["otel"]
    plug, plug_body = got["plugin"]

    # /metrics (plugin-compatible).
    check_series("/metrics http_requests_total",
                 want, series(plug, "http_requests_total", ("method", "path", "status")))
    want_dur = {}
    for (m, r, _), n in want.items():
        want_dur[(m, r)] = want_dur.get((m, r), 0) + n
    check_series("/metrics http_request_duration_seconds_count", want_dur,
                 series(plug, "http_request_duration_seconds_count", ("method", "path")))
    for labels, _ in plug.get("http_request_duration_seconds_count", []):
        check("status" not in labels, f"/metrics duration: want no status label got {labels}")
    want_err = {(m, r, s): n for (m, r, s), n in want.items() if s.startswith("5")}
    check_series("/metrics http_request_errors_total", want_err,
                 series(plug, "http_request_errors_total", ("method", "path", "errorType")))
    check_histograms("/metrics", plug, "http_request_duration_seconds", ("method", "path"),
                     PLUGIN_BUCKETS)

    # /metrics/otel (semantic conventions).
    okeys = ("http_request_method", "http_route", "http_response_status_code")
    check_series("/metrics/otel duration _count", want,
                 series(otel, "http_server_request_duration_seconds_count", okeys))
    for labels, _ in otel.get("http_server_request_duration_seconds_count", []):
        what = f"{labels.get('http_request_method')} {labels.get('http_route')}"
        check_eq(f"/metrics/otel {what} url_scheme", "http", labels.get("url_scheme"))
        check_eq(f"/metrics/otel {what} network_protocol_version", "1.1",
                 labels.get("network_protocol_version"))
        status = labels.get("http_response_status_code", "")
        want_et = status if status.startswith("5") else None
        check_eq(f"/metrics/otel {what} {status} error_type", want_et, labels.get("error_type"))
    check_histograms("/metrics/otel", otel, "http_server_request_duration_seconds", okeys,
                     OTEL_BUCKETS)
    tinfo = otel.get("target_info", [])
    check(any(l.get("process_pid") == str(server_pid) and v == 1 for l, v in tinfo),
          f"/metrics/otel target_info: want process_pid={server_pid} got {[l for l, _ in tinfo]}")

    # No raw ids or query strings anywhere.
    for path, body in (("/metrics", plug_body), ("/metrics/otel", otel_body)):
        for bad in ("?x=1", "/items/42", "/items/7"):
            check(bad not in body, f"{path}: want no {bad!r} got it in body")

    # The slow requests: 60 ms each.
    slow_n = want.get(("GET", "/slow", "200"), 0)
    for path, m, base, where in (
        ("/metrics", plug, "http_request_duration_seconds", {"method": "GET", "path": "/slow"}),
        ("/metrics/otel", otel, "http_server_request_duration_seconds",
         {"http_request_method": "GET", "http_route": "/slow"}),
    ):
        check_eq(f"{path} GET /slow le=0.05", 0, _bucket(m, base + "_bucket", where, 0.05))
        check_eq(f"{path} GET /slow le=0.5", slow_n, _bucket(m, base + "_bucket", where, 0.5))
        s = sum(v for l, v in m.get(base + "_sum", [])
                if all(l.get(k) == x for k, x in where.items()))
        check(s >= slow_n * 0.06, f"{path} GET /slow _sum: want >= {slow_n * 0.06:.2f} got {s:.4f}")

    # Self-metrics and exposition validity on both endpoints.
    for path, m, body in (("/metrics", plug, plug_body), ("/metrics/otel", otel, otel_body)):
        for name in SELF_METRICS:
            check(name in m, f"{path} {name}: want present got missing")
        reqs = total(m, "otel_agent_requests_total")
        check(reqs >= sent, f"{path} otel_agent_requests_total: want >= {sent} got {reqs:g}")
        check_eq(f"{path} otel_agent_targets", 1, total(m, "otel_agent_targets"))
        promtool_check(path, body)


def _counts_test(kind):
    with Procs() as procs:
        srv, port = procs.server(kind)
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        want = drive(port, MIX)
        got = scrape_until(base, len(MIX))
        check_full_scrape(got, want, srv.pid, len(MIX))


# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------


def test_counts_node():
    """Exact series for the standard mix against Node (accept4/read/writev)."""
    _counts_test("node")


def test_counts_python():
    """Exact series for the standard mix against Python (recvfrom/sendto)."""
    _counts_test("python")


def test_counts_c():
    """Exact series for the standard mix against C (accept4/recv/send)."""
    _counts_test("c")


def test_flag_off():
    """--feature-otel=false: healthz 'disabled', metrics 404, nothing in the kernel."""
    with Procs() as procs:
        srv, _ = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=false"],
                                     wait_body=("disabled",))
        for path in ("/metrics", "/metrics/otel"):
            status, _, _ = scrape(base + path)
            check_eq(f"flag off GET {path}", 404, status)
        progs = progs_of(agent.pid)
        check(not progs, f"flag off bpf programs of agent: want none got ids {sorted(progs)}")
        check(agent.poll() is None, f"flag off agent: want running got exit {agent.returncode}")


def test_flag_from_target_env():
    """No option, no agent FEATURE_OTEL: the target's FEATURE_OTEL=true enables."""
    with Procs() as procs:
        srv, port = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        _, base, _ = procs.agent([srv.pid], env=env_without("FEATURE_OTEL"))
        mix = [("GET", "/hello", None, "/hello", "200")] * 3
        want = drive(port, mix)
        got = scrape_until(base, len(mix))
        check_series("target env on: /metrics http_requests_total", want,
                     series(got["plugin"][0], "http_requests_total", ("method", "path", "status")))
        check_series("target env on: /metrics/otel _count", want,
                     series(got["otel"][0], "http_server_request_duration_seconds_count",
                            ("http_request_method", "http_route", "http_response_status_code")))


def test_flag_agent_env_overrides_target():
    """Agent FEATURE_OTEL=0 beats a target started with FEATURE_OTEL=true."""
    with Procs() as procs:
        srv, _ = procs.server("node", env=env_without("FEATURE_OTEL", FEATURE_OTEL="true"))
        agent, base, _ = procs.agent([srv.pid], env=env_without("FEATURE_OTEL", FEATURE_OTEL="0"),
                                     wait_body=("disabled",))
        for path in ("/metrics", "/metrics/otel"):
            status, _, _ = scrape(base + path)
            check_eq(f"agent env 0 GET {path}", 404, status)
        progs = progs_of(agent.pid)
        check(not progs, f"agent env 0 bpf programs: want none got ids {sorted(progs)}")


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
                     series(got["plugin"][0], "http_requests_total", ("method", "path", "status")))
        check_series("untargeted: /metrics/otel _count", want,
                     series(got["otel"][0], "http_server_request_duration_seconds_count",
                            ("http_request_method", "http_route", "http_response_status_code")))
        check_series("untargeted: /metrics http_request_errors_total", {},
                     series(got["plugin"][0], "http_request_errors_total", ("method", "path")))
        tinfo = [l.get("process_pid") for l, _ in got["otel"][0].get("target_info", [])]
        check(str(b.pid) not in tinfo, f"untargeted target_info: want no pid {b.pid} got {tinfo}")


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
    argv = [agent_path(), "--pid", str(dead.pid), "--listen", f"127.0.0.1:{free_port()}",
            "--feature-otel=true"]
    r = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    err = r.stderr.decode(errors="replace").strip()
    check(r.returncode != 0, f"--pid {dead.pid} (dead): want non-zero exit got 0")
    check(str(dead.pid) in err, f"--pid {dead.pid} (dead) stderr: want the pid got {err[:80]!r}")


TESTS = [
    test_counts_node,
    test_counts_python,
    test_counts_c,
    test_flag_off,
    test_flag_from_target_env,
    test_flag_agent_env_overrides_target,
    test_untargeted_not_counted,
    test_clean_detach,
    test_bad_input,
]
