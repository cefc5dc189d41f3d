"""The metrics beyond request duration: the targets' own outgoing requests
(http.client.*), body sizes and active requests, against real processes,
with exact values.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from selftests.lib.checks import check, check_eq
from selftests.lib.client import Client
from selftests.lib.needs import needs
from selftests.lib.procs import REPO, Procs
from selftests.lib.scrape import scrape_metrics, series, total

# A target that answers /ok and /bad by calling an upstream server itself.
PROXY = r'''
import http.client, http.server, sys
up = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        c = http.client.HTTPConnection("127.0.0.1", up)
        if self.path == "/ok":
            c.request("GET", "/hello")
        else:
            c.request("POST", "/items", body=b"x" * 300)
        r = c.getresponse()
        body = r.read()
        c.close()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
'''

CLIENT_KEYS = ("http_request_method", "server_address", "server_port",
               "http_response_status_code", "error_type")


def settle(base, name, want, keys=None):
    """Scrape until total(name) reaches want (2 s at most); the metrics."""
    deadline = time.monotonic() + 2.0
    while True:
        m = scrape_metrics(base, "/metrics/otel")
        if total(m, name) >= want or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


@needs("root", "node")
def test_client_requests():
    """A target's own outgoing requests: duration and body sizes by server and status."""
    with Procs() as procs:
        up, upport = procs.server("node")  # the upstream: not a target
        proxy, port = procs.listening([sys.executable, "-c", PROXY, str(upport)], "proxy")
        _, base, _ = procs.agent([proxy.pid], ["--feature-otel=true", "--body-sizes"])
        for path in ["/ok"] * 3 + ["/bad"] * 2:
            c = Client(port)
            try:
                c.exchange("GET", path, want=200)
            finally:
                c.close()
        m = settle(base, "http_client_request_duration_seconds_count", 5)
        got = series(m, "http_client_request_duration_seconds_count", CLIENT_KEYS)
        want = {("GET", "127.0.0.1", str(upport), "200", None): 3,
                ("POST", "127.0.0.1", str(upport), "201", None): 2}
        check_eq("client duration counts", want, got)
        # upstream answers "hello" (5 bytes) to GET /hello; the POSTs sent 300 bytes each
        sizes = series(m, "http_client_request_body_size_bytes_sum", CLIENT_KEYS)
        check_eq("client request body sizes", {("POST", "127.0.0.1", str(upport), "201", None): 600,
                                               ("GET", "127.0.0.1", str(upport), "200", None): 0},
                 sizes)
        resp = series(m, "http_client_response_body_size_bytes_sum", CLIENT_KEYS)
        check_eq("client response body size of GET /hello", 15,
                 resp.get(("GET", "127.0.0.1", str(upport), "200", None)))
        # the proxy's own server side is there too, and the upstream's traffic is not
        srv = series(m, "http_server_request_duration_seconds_count",
                     ("http_request_method", "http_route"))
        check_eq("server side of the proxy", {("GET", "/ok"): 3, ("GET", "/bad"): 2}, srv)


def _client_on_go(procs, tag, script, n, ready=None):
    """Runs script (a target that is a client of a Node upstream: it sends
    its requests on "go" and says "done"), attached by the agent before
    "go" (after `ready`, when the script prints it). Returns the upstream's
    port and the client series once n requests are counted."""
    _, upport = procs.server("node")  # the upstream: not a target
    client = procs.spawn([sys.executable, "-c", script, str(upport)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if ready:
        check_eq(tag, ready, client.stdout.readline())
    _, base, _ = procs.agent([client.pid], ["--feature-otel=true"])
    client.stdin.write(b"go\n")
    client.stdin.flush()
    check_eq(tag, b"done\n", client.stdout.readline())
    m = settle(base, "http_client_request_duration_seconds_count", n)
    return upport, series(m, "http_client_request_duration_seconds_count", CLIENT_KEYS)


# A target that, as a client, sends each request and then half-closes
# (shutdown(SHUT_WR)) before it reads the response, as some clients do. It
# starts on "go" (once the agent traces it) and says "done".
HALF_CLOSER = r'''
import socket, sys, time
up = int(sys.argv[1])
sys.stdin.readline()
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", up))
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
print("done", flush=True)
time.sleep(60)
'''


@needs("root", "node")
def test_client_half_close():
    """A client that half-closes its connection after sending still gets its
    response: its requests are answered (200), not connection_closed."""
    with Procs() as procs:
        upport, got = _client_on_go(procs, "half-closing client", HALF_CLOSER, 3)
        check_eq("half-closing client: requests by outcome",
                 {("GET", "127.0.0.1", str(upport), "200", None): 3}, got)


# A target whose keep-alive connection to its upstream was open before the
# agent attached: on "go" it sends 5 requests on it, each response read whole.
JOINED_CLIENT = r'''
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", "/hello")
c.getresponse().read()
print("connected", flush=True)
sys.stdin.readline()
for _ in range(5):
    c.request("GET", "/hello")
    c.getresponse().read()
print("done", flush=True)
time.sleep(60)
'''


@needs("root", "node")
def test_client_connection_before_attach():
    """A client connection open before the agent attached: every request sent
    on it after is counted, by the server address and port of the socket
    (the first was lost and the rest were labelled 0.0.0.0:0)."""
    with Procs() as procs:
        upport, got = _client_on_go(procs, "joined client", JOINED_CLIENT, 5,
                                    ready=b"connected\n")
        check_eq("joined client: requests by server and outcome",
                 {("GET", "127.0.0.1", str(upport), "200", None): 5}, got)


@needs("root")
def test_client_errors():
    """An upstream that closes before answering: error_type connection_closed, no status."""
    RAW = r'''
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print("listening", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.recv(65536); c.close()
'''
    with Procs() as procs:
        raw, upport = procs.listening([sys.executable, "-c", RAW], "raw upstream")
        proxy, port = procs.listening([sys.executable, "-c", PROXY, str(upport)], "proxy",
                                      stderr=subprocess.DEVNULL)
        _, base, _ = procs.agent([proxy.pid], ["--feature-otel=true"])
        for _ in range(2):
            c = Client(port)
            try:
                c.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                c.read_to_eof()  # the proxy fails: its handler raises, it closes
            finally:
                c.close()
        m = settle(base, "http_client_request_duration_seconds_count", 2)
        got = series(m, "http_client_request_duration_seconds_count", CLIENT_KEYS)
        check_eq("client closed before response",
                 {("GET", "127.0.0.1", str(upport), None, "connection_closed"): 2}, got)


@needs("root", "node")
def test_body_sizes_and_active():
    """Request and response body sizes from Content-Length; a request whose body is
    still arriving is active, and stops being so when it is answered."""
    with Procs() as procs:
        srv, port = procs.server("node")
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true", "--body-sizes"])
        c = Client(port)
        try:
            for n in (10, 300, 5000):
                c.exchange("POST", "/items", b"y" * n, want=201)
            c.send(b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"z" * 50)
            m = settle(base, "http_server_active_requests", 1)
            active = series(m, "http_server_active_requests", ("http_request_method",))
            check_eq("active while the body arrives", 1, active.get(("POST",)))
            c.send(b"z" * 50)
            status, _, _ = c.response()
            check_eq("POST answered", 201, status)
        finally:
            c.close()
        m = settle(base, "http_server_request_body_size_bytes_count", 4)
        keys = ("http_request_method", "http_route")
        check_eq("request body sizes: count", {("POST", "/items"): 4},
                 series(m, "http_server_request_body_size_bytes_count", keys))
        check_eq("request body sizes: sum", {("POST", "/items"): 5410},
                 series(m, "http_server_request_body_size_bytes_sum", keys))
        b = {l["le"]: v for l, v in m.get("http_server_request_body_size_bytes_bucket", [])}
        check_eq("request body sizes: le=64", 1, b.get("64"))
        check_eq("request body sizes: le=1024", 3, b.get("1024"))
        check_eq("request body sizes: le=16384", 4, b.get("16384"))
        check_eq("response body sizes: count", {("POST", "/items"): 4},
                 series(m, "http_server_response_body_size_bytes_count", keys))
        active = series(m, "http_server_active_requests", ("http_request_method",))
        check_eq("active after the response", 0, active.get(("POST",)))


@needs("root")
def test_pipelined_waiting():
    """Three requests pipelined to a server that never answers: the oldest waits in its
    connection's own kernel entry, the two behind it in the reqs map. All three are
    active, keep their body sizes, and end as connection_closed when the server closes."""
    SILENT = r'''
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print("listening", s.getsockname()[1], flush=True)
c, _ = s.accept()
while c.recv(65536):
    pass
c.close()
'''
    with Procs() as procs:
        silent, port = procs.listening([sys.executable, "-c", SILENT], "silent server")
        _, base, _ = procs.agent([silent.pid], ["--feature-otel=true", "--body-sizes"])
        c = Client(port)
        try:
            c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n" + b"x" * 10
                   + b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 300\r\n\r\n" + b"y" * 300
                   + b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
            m = settle(base, "http_server_active_requests", 3)
            active = series(m, "http_server_active_requests", ("http_request_method",))
            check_eq("active while waiting", {("POST",): 2, ("GET",): 1},
                     {k: v for k, v in active.items() if v})
        finally:
            c.close()  # the server reads EOF and closes its end
        m = settle(base, "http_server_request_duration_seconds_count", 3)
        keys = ("http_request_method", "http_route", "error_type")
        check_eq("ended by the close",
                 {("POST", "/a", "connection_closed"): 1, ("POST", "/b", "connection_closed"): 1,
                  ("GET", "/c", "connection_closed"): 1},
                 series(m, "http_server_request_duration_seconds_count", keys))
        check_eq("body sizes of the waiting requests",
                 {("POST", "/a", "connection_closed"): 10, ("POST", "/b", "connection_closed"): 300,
                  ("GET", "/c", "connection_closed"): 0},
                 series(m, "http_server_request_body_size_bytes_sum", keys))
        active = series(m, "http_server_active_requests", ("http_request_method",))
        check_eq("active after the close", {}, {k: v for k, v in active.items() if v})


BODY_FAMILIES = ("http_server_request_body_size_bytes", "http_server_response_body_size_bytes",
                 "http_client_request_body_size_bytes", "http_client_response_body_size_bytes")


@needs("root", "node")
def test_body_sizes_opt_in():
    """Body-size histograms are opt-in, as in the semantic conventions (each
    was two more histograms per series, the default scrape three times the
    size): absent by default, there with --body-sizes or `body-sizes true`
    in the config file, exact either way for the durations."""
    fd, conf = tempfile.mkstemp(prefix="otel-agent-test-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("body-sizes true\n")
    try:
        for tag, extra, want in (("default", [], False), ("--body-sizes", ["--body-sizes"], True),
                                 ("config", ["--config", conf], True)):
            with Procs() as procs:
                up, upport = procs.server("node")
                proxy, port = procs.listening([sys.executable, "-c", PROXY, str(upport)],
                                              "proxy")
                _, base, _ = procs.agent([proxy.pid], ["--feature-otel=true"] + extra)
                c = Client(port)
                try:
                    c.exchange("GET", "/ok", want=200)
                finally:
                    c.close()
                m = settle(base, "http_client_request_duration_seconds_count", 1)
                check_eq(f"{tag}: server and client durations", (1, 1),
                         (total(m, "http_server_request_duration_seconds_count"),
                          total(m, "http_client_request_duration_seconds_count")))
                names = _exported_names(base)
                for fam in BODY_FAMILIES:
                    check_eq(f"{tag}: {fam}_count exported", want, fam + "_count" in names)
    finally:
        os.unlink(conf)


def _exported_names(base):
    """Every sample and family name both endpoints export, in both formats."""
    names = set()
    for path, accept in (("/metrics/otel", "text/plain"), ("/metrics", "text/plain"),
                         ("/metrics/otel", "application/openmetrics-text;version=1.0.0")):
        req = urllib.request.Request(base + path, headers={"Accept": accept})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read().decode()
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, 1)[0])
    return names


@needs("root", "node")
def test_documented_self_metrics_exist():
    """Every otel_agent_* name the README and docs/ mention is one the agent
    exports: a renamed counter must not leave the docs pointing at nothing."""
    docs = [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    named = {}
    for path in docs:
        with open(path) as f:
            for name in re.findall(r"\botel_agent_[a-z_]*[a-z]", f.read()):
                named.setdefault(name, os.path.relpath(path, REPO))
    check(len(named) >= 10, f"docs: want the self-metrics named got {sorted(named)}")
    with Procs() as procs:
        _, _, _, base = procs.traced("node")
        exported = _exported_names(base)
    missing = sorted(f"{n} ({where})" for n, where in named.items() if n not in exported)
    check(not missing, f"documented but not exported: {', '.join(missing)}")
