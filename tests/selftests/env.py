"""What surrounds the counting: the machine (no BTF, tracefs not mounted or
not mountable, no privilege), the endpoint (gzip, IPv6, unknown paths) and
which bytes are requests (connections opened before the agent, files and
pipes that look like HTTP).
"""

import gzip
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from selftests.lib.checks import check, check_eq
from selftests.lib.client import drive
from selftests.lib.endpoints import OTEL_DUR, OTEL_KEYS, PLUGIN_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import (REPO, Procs, agent_path, agent_stderr, free_port, read_line,
                                 run_agent)
from selftests.lib.scrape import parse_prom, scrape, scrape_until, series, total


# Run a command in a private mount namespace after some shell set-up, so
# unmounting or hiding things never touches the machine's own mounts.
def in_mount_ns(setup):
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            setup + ' && exec "$@"', "sh"]


# tracefs may be mounted at both places (and debugfs would automount it again).
HIDE_TRACEFS = ("{ umount -l /sys/kernel/debug/tracing 2>/dev/null; "
                "umount -l /sys/kernel/debug 2>/dev/null; "
                "umount -l /sys/kernel/tracing 2>/dev/null; true; } && "
                "test ! -e /sys/kernel/tracing/events")


@needs("root", "node", "unshare")
def test_no_btf():
    """A kernel without /sys/kernel/btf/vmlinux: one line naming BTF, non-zero exit."""
    with Procs() as procs:
        srv, _ = procs.server("node")
        rc, err = run_agent([srv.pid], prefix=in_mount_ns("mount -t tmpfs none /sys/kernel/btf"))
        check(rc != 0, "no BTF: want non-zero exit got 0")
        check("BTF" in err and "CONFIG_DEBUG_INFO_BTF" in err,
              f"no BTF stderr: want a line about BTF got {err[-120:]!r}")
        check_eq("no BTF stderr lines", 1, len(err.splitlines()))


@needs("root", "node")
def test_listen_in_use():
    """--listen on a port another socket holds: one error line of the agent's own (not
    libmicrohttpd's, which names port 0), non-zero exit."""
    with Procs() as procs:
        srv, _ = procs.server("node")
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        try:
            rc, err = run_agent([srv.pid], listen=f"127.0.0.1:{port}")
        finally:
            held.close()
        check(rc != 0, "port in use: want non-zero exit got 0")
        errors = [l for l in err.splitlines() if "error" in l.lower() or "fail" in l.lower()]
        check_eq("port in use: error lines", [f"otel-agent: error: cannot listen on 127.0.0.1:{port}: "
                                               "Address already in use"], errors)


@needs("git")
def test_version_is_the_tree():
    """--version (also otel_scope_version) names the commit and dirty state the binary was
    built from: the Makefile rewrites the version header whenever they change."""
    # safe.directory: the checkout may belong to another user than the one testing
    want = subprocess.run(["git", "-c", "safe.directory=*", "-C", REPO, "describe", "--tags",
                           "--always", "--dirty"],
                          capture_output=True, text=True, timeout=30)
    check_eq("git describe exit", 0, want.returncode)
    got = subprocess.run([agent_path(), "--version"], capture_output=True, text=True, timeout=30)
    check_eq("otel-agent --version", f"otel-agent {want.stdout.strip()}", got.stdout.strip())


@needs("root", "node", "unshare")
def test_tracefs_not_mounted():
    """tracefs not mounted: the agent mounts it, says so, and counts."""
    with Procs() as procs:
        srv, port = procs.server("node")
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"],
                                     prefix=in_mount_ns(HIDE_TRACEFS))
        err = agent_stderr(agent)
        check("mounted tracefs at /sys/kernel/tracing" in err,
              f"tracefs: want 'mounted tracefs' logged got {err[-160:]!r}")
        mix = [("GET", "/hello", None, "/hello", "200")] * 3
        want = drive(port, mix)
        got = scrape_until(base, len(mix))
        check_eq("tracefs mounted by agent: GET /hello 200", want,
                 series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))


@needs("root", "node", "unshare", "setpriv")
def test_tracefs_not_mountable():
    """tracefs missing and no CAP_SYS_ADMIN to mount it: says how to mount it."""
    with Procs() as procs:
        srv, _ = procs.server("node")
        prefix = in_mount_ns(HIDE_TRACEFS) + [
            "setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"]
        rc, err = run_agent([srv.pid], prefix=prefix)
        check(rc != 0, "tracefs not mountable: want non-zero exit got 0")
        check("mount -t tracefs tracefs /sys/kernel/tracing" in err,
              f"tracefs not mountable stderr: want the mount command got {err[-160:]!r}")


@needs("root", "node", "setpriv")
def test_not_root():
    """An unprivileged user: one line saying to run as root, non-zero exit."""
    with Procs() as procs:
        srv, _ = procs.server("node")
        # a copy nobody can execute, wherever the checkout lives
        tmp = tempfile.mkdtemp()
        try:
            os.chmod(tmp, 0o755)
            agent = os.path.join(tmp, "otel-agent")
            shutil.copy(agent_path(), agent)
            os.chmod(agent, 0o755)
            rc, err = run_agent([srv.pid], agent=agent, prefix=[
                "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        finally:
            shutil.rmtree(tmp)
        check(rc != 0, "not root: want non-zero exit got 0")
        check("root" in err and "CAP_BPF" in err,
              f"not root stderr: want 'run as root ... CAP_BPF' got {err[-160:]!r}")
        check_eq("not root stderr lines", 1, len(err.splitlines()))


@needs("root", "node")
def test_connection_before_attach():
    """A keep-alive connection opened before the agent: later requests on it count."""
    with Procs() as procs:
        srv, port = procs.server("node")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for _ in range(2):  # before the agent: not counted
                conn.request("GET", "/hello")
                conn.getresponse().read()
            _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
            for _ in range(3):
                conn.request("GET", "/items/9")
                conn.getresponse().read()
        finally:
            conn.close()
        want = {("GET", "/items/{id}", "404"): 3}
        got = scrape_until(base, 3)
        check_eq("old connection: /metrics", want,
                 series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        check_eq("old connection: /metrics/otel", want,
                 series(got["otel"][0], OTEL_DUR + "_count", OTEL_KEYS))


# A target that reads request-looking bytes from a file and a pipe, writes a
# status line to a pipe, and also serves real HTTP.
FAKE_IO_TARGET = r"""
import http.server, os, sys, threading
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"GET /fromfile HTTP/1.1\r\nHost: x\r\n\r\n")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
print("listening", srv.server_address[1], flush=True)
for line in sys.stdin.buffer:
    fd = os.open(path, os.O_RDONLY)
    os.read(fd, 4096)
    os.close(fd)
    os.write(1, b"HTTP/1.1 200 OK\r\n")
    sys.stdout.flush()
"""


@needs("root")
def test_files_and_pipes_not_requests():
    """A file or pipe read that starts with 'GET /' is not a request."""
    with Procs() as procs, tempfile.TemporaryDirectory() as tmp:
        srv, port = procs.listening([sys.executable, "-c", FAKE_IO_TARGET,
                                     os.path.join(tmp, "req")], "fake io target",
                                    stdin=subprocess.PIPE)
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        for _ in range(4):
            srv.stdin.write(b"GET /frompipe HTTP/1.1\r\n")
            srv.stdin.flush()
            check_eq("fake io target reply", "HTTP/1.1 200 OK\r", read_line(srv))
        want = drive(port, [("GET", "/real", None, "/real", "200")] * 2)
        got = scrape_until(base, 2)
        plug = got["plugin"][0]
        check_eq("file/pipe: /metrics http_requests_total", want,
                 series(plug, "http_requests_total", PLUGIN_KEYS))
        check_eq("file/pipe: otel_agent_requests_total", 2,
                 total(plug, "otel_agent_requests_total"))


@needs("root", "node")
def test_gzip_and_endpoint():
    """gzip when asked, identical content; 404 for other paths; IPv6 listen."""
    with Procs() as procs:
        srv, port = procs.server("node")
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"])
        drive(port, [("GET", "/hello", None, "/hello", "200")] * 2)
        scrape_until(base, 2)
        for path in ("/metrics", "/metrics/otel"):
            _, ctype, plain = scrape(base + path)
            check_eq(f"{path} content-type", "text/plain; version=0.0.4; charset=utf-8", ctype)
            req = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=3) as r:
                check_eq(f"{path} Content-Encoding", "gzip", r.headers.get("Content-Encoding"))
                body = gzip.decompress(r.read()).decode()
            check_eq(f"{path} gzip body", parse_prom(plain), parse_prom(body))
        status, _, _ = scrape(base + "/nothing-here")
        check_eq("GET /nothing-here", 404, status)

        v6port = free_port()
        agent6 = procs.spawn([agent_path(), "--pid", str(srv.pid), "--listen", f"[::1]:{v6port}",
                              "--feature-otel=true"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        status = None
        while status != 200 and time.monotonic() < deadline and agent6.poll() is None:
            status, _, _ = scrape(f"http://[::1]:{v6port}/metrics/otel", timeout=1)
            time.sleep(0.1)
        check_eq("IPv6 listen GET /metrics/otel", 200, status)
