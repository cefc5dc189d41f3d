"""Traffic to the test servers: http.client for the standard mix, and a raw
HTTP/1.1 client for exact bytes at exact syscall boundaries. A request is
(method, raw path, body, route or plugin path, status); the drivers return
what the agent should count, {(method, route, status): n}."""

import http.client
import socket
import struct
import time

from .checks import TestFailure, check, check_eq

IO_TIMEOUT_S = 5.0
GAP_S = 0.05  # between the parts of a split request

# The standard mix: (method, raw path, body, plugin path / otel route, status).
# (method, raw path, body, route, status): five requests, each its own series,
# sent in one write by the pipelining tests (traffic.py, tests/vmtest).
PIPELINE = [
    ("GET", "/hello?p=1", b"", "/hello", "200"),
    ("PUT", "/items/11", b'{"n":1}', "/items/{id}", "200"),
    ("GET", "/nope", b"", "/nope", "404"),
    ("POST", "/items", b'{"n":2}', "/items", "201"),
    ("DELETE", "/items/12", b"", "/items/{id}", "200"),
]

MIX = (
    [("GET", "/hello?x=1", None, "/hello", "200")] * 7
    + [("POST", "/items", b'{"name":"widget"}', "/items", "201")] * 3
    + [("PUT", "/items/42", b'{"name":"gadget"}', "/items/{id}", "200")] * 2
    + [("DELETE", "/items/7", None, "/items/{id}", "200")] * 2
    + [("GET", "/nope", None, "/nope", "404")] * 4
    + [("GET", "/boom", None, "/boom", "500")] * 2
    + [("GET", "/slow", None, "/slow", "200")] * 3
)


def add(want, key, n=1):
    want[key] = want.get(key, 0) + n
    return want


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
            add(want, (method, route, status))
    finally:
        keep.close()
    return want


def request(method, path, body=b"", headers=()):
    """The bytes of one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Client:
    """One connection: TCP (port), IPv6 (("::1", port)) or AF_UNIX (path)."""

    def __init__(self, addr):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        elif isinstance(addr, tuple):
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = ("127.0.0.1", addr)
        self.sock.settimeout(IO_TIMEOUT_S)
        self.sock.connect(addr)
        if self.sock.family != socket.AF_UNIX:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *parts, gap=GAP_S):
        """Send each part with its own send(), gap seconds apart."""
        for i, part in enumerate(parts):
            if i:
                time.sleep(gap)
            self.sock.sendall(part)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise TestFailure(f"client: want more response bytes got EOF after {self.buf[:60]!r}")
        self.buf += chunk

    def _take_until(self, sep):
        while sep not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(sep, 1)
        return head

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, to_head=False):
        """Read one response (a 1xx too); to_head: the answer to a HEAD, which has
        no body whatever its Content-Length says. Returns (status, headers, body)."""
        head = self._take_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        check(len(parts) >= 2 and parts[0].startswith("HTTP/1."),
              f"client: want a status line got {head[0][:60]!r}")
        status = int(parts[1])
        hdrs = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        if to_head or 100 <= status < 200 or status in (204, 304):
            return status, hdrs, b""
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._take_until(b"\r\n")
                    return status, hdrs, body
                body += self._take(size)
                self._take(2)
        if "content-length" in hdrs:
            return status, hdrs, self._take(int(hdrs["content-length"]))
        return status, hdrs, self.read_to_eof()

    def read_to_eof(self):
        out = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return out
            if not chunk:
                return out
            out += chunk

    def exchange(self, method, path, body=b"", want=None, headers=()):
        """One request, its response; checks the status when want is given."""
        self.send(request(method, path, body, headers))
        status, _, rbody = self.response()
        if want is not None:
            check_eq(f"server {method} {path}", int(want), status)
        return rbody

    def close(self, reset=False):
        """Close: FIN, or RST (SO_LINGER {1, 0}) when reset."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def drive_on(c, mix, want=None):
    """Send (method, path, body, route, status) items on Client c, one after
    the other; returns want updated with {(method, route, status): n}."""
    want = {} if want is None else want
    for method, path, body, route, status in mix:
        c.exchange(method, path, body, status)
        add(want, (method, route, status))
    return want


def drive_mix(addr, mix):
    """drive_on a fresh connection to addr, closed afterwards."""
    c = Client(addr)
    try:
        return drive_on(c, mix)
    finally:
        c.close()
