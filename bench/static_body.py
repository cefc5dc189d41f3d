#!/usr/bin/env python3
"""The transfer floor of a scrape: serve FILE's bytes from memory, as fast as
one sendall() moves them, so curl's time for it is what loopback and curl
cost for a body that size with nothing rendered. Prints "listening PORT".
Usage: static_body.py FILE"""
import socket
import sys

body = open(sys.argv[1], "rb").read()
head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
print("listening", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = c.recv(65536)
        if not chunk:
            break
        req += chunk
    if req:
        c.sendall(head + body)
    c.close()
