#!/usr/bin/env python3
"""Python twin of core.js: the same routes served by http.server.

Usage: py_server.py [PORT]   (default: $PORT or 8900; 0 picks a free port)
Prints "listening <port>" on stdout once it accepts connections. Python's
socket layer does its I/O with recvfrom/recv_into and sendto/send, so this
server exercises different syscalls than Node's read/writev.
"""

import os
import re
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEM_RE = re.compile(r"^/items/[^/]+$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def _reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def _route(self):
        self._drain()
        path = self.path.split("?", 1)[0]
        method = self.command
        if method == "GET" and path == "/hello":
            return self._reply(200, "hello")
        if method == "POST" and path == "/items":
            return self._reply(201, "created")
        if method in ("PUT", "DELETE") and ITEM_RE.match(path):
            return self._reply(200, "ok")
        if method == "GET" and path == "/boom":
            return self._reply(500, "boom")
        if method == "GET" and path == "/slow":
            time.sleep(0.06)
            return self._reply(200, "slow")
        return self._reply(404, "not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _route


def main():
    arg = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "")
    try:
        port = int(arg) if arg != "" else 8900
    except ValueError:
        print(f"py_server.py: bad port {arg!r}", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
