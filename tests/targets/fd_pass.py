#!/usr/bin/env python3
"""Hands a listening socket to an unrelated process, as socket activation
or a supervisor does: the taker never calls listen() and is no descendant
of the process that did.

Usage: fd_pass.py give PORT UNIX_PATH   bind and listen on 127.0.0.1:PORT,
                                        print "listening <port>"; on a line
                                        on stdin send the socket over the
                                        Unix socket UNIX_PATH, print "sent"
       fd_pass.py take UNIX_PATH        listen on UNIX_PATH, print "ready";
                                        receive the socket, print "serving",
                                        and serve GET /hello on it
"""

import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_GET(self):
        ok = self.path == "/hello"
        body = b"hello" if ok else b"not found"
        self.send_response(200 if ok else 404)
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


def give(port, path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print("listening", port, flush=True)
    sys.stdin.readline()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.connect(path)
        socket.send_fds(u, [b"x"], [sock.fileno()])
    print("sent", flush=True)
    sys.stdin.read()  # keep the socket open until the test ends


def take(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.bind(path)
        u.listen(1)
        print("ready", flush=True)
        conn, _ = u.accept()
        _, fds, _, _ = socket.recv_fds(conn, 16, 1)
        conn.close()
    sock = socket.socket(fileno=fds[0])
    print("serving", flush=True)
    while True:
        conn, addr = sock.accept()
        threading.Thread(target=handle, args=(conn, addr), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "give":
        give(int(sys.argv[2]), sys.argv[3])
    else:
        take(sys.argv[2])
