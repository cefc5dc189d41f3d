#!/usr/bin/env python3
"""A pre-fork HTTP server for the target selftests: the master binds and
listens, then forks workers that accept on the shared socket.

Usage: prefork.py PORT [--workers N] [--host ADDR] [--wait] [--max-requests N]
  --wait: after binding print "bound <port>" and fork only when a line
          arrives on stdin.
  --max-requests N: a worker serves N connections one at a time, then
          exits, and the master forks a new one (gunicorn's recycling).
Prints "worker <pid>" per worker forked, then "listening <port>". GET
/hello answers 200 with X-Worker: <pid>; anything else 404. Workers die
with the master (PR_SET_PDEATHSIG).
"""

import argparse
import ctypes
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler

PR_SET_PDEATHSIG = 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):
        ok = self.path == "/hello"
        body = b"hello" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Worker", str(os.getpid()))
        self.end_headers()
        self.wfile.write(body)


def handle(conn, addr):
    try:
        Handler(conn, addr, None)
    except OSError:
        pass
    finally:
        conn.close()


def serve(sock):
    """Accept forever; one thread per connection (keep-alive included)."""
    while True:
        conn, addr = sock.accept()
        threading.Thread(target=handle, args=(conn, addr), daemon=True).start()


def serve_then_exit(sock, n):
    """Serve n connections one after the other, then exit (the master forks another)."""
    for _ in range(n):
        conn, addr = sock.accept()
        handle(conn, addr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--wait", action="store_true")
    ap.add_argument("--max-requests", type=int, default=0)
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    if args.wait:
        print("bound", args.port, flush=True)
        sys.stdin.readline()

    libc = ctypes.CDLL(None, use_errno=True)
    workers = []

    def fork_worker():
        pid = os.fork()
        if pid == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                if args.max_requests:
                    serve_then_exit(sock, args.max_requests)
                else:
                    serve(sock)
            finally:
                os._exit(0)
        workers.append(pid)
        print("worker", pid, flush=True)

    for _ in range(args.workers):
        fork_worker()
    print("listening", args.port, flush=True)

    def stop(signum, frame):
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        if not args.max_requests:
            signal.pause()
            continue
        pid, _ = os.wait()
        if pid in workers:
            workers.remove(pid)
            fork_worker()


if __name__ == "__main__":
    main()
