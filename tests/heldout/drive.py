"""A client that counts what it got: (method, route, status) -> n."""

import collections
import http.client
import re


def route(path):
    return re.sub(r"/\d+(?=/|$)", "/{id}", path.split("?")[0])


MIX = [("GET", "/ok", b""), ("GET", "/missing", b""), ("GET", "/boom", b""),
       ("POST", "/echo", b"x" * 300), ("GET", "/users/17", b""), ("GET", "/users/4242", b""),
       ("POST", "/echo", b"y" * 5000), ("DELETE", "/missing", b"")]


def drive(port, rounds, conns=1, counts=None, mix=MIX, new_conn_every=0):
    """Send mix `rounds` times over `conns` keep-alive connections (a fresh connection every
    new_conn_every requests if set). Returns the Counter of answers received."""
    counts = counts if counts is not None else collections.Counter()
    cs = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(conns)]
    i = 0
    for _ in range(rounds):
        for m, p, body in mix:
            c = cs[i % conns]
            hdrs = {"Content-Type": "application/octet-stream"} if body else {}
            c.request(m, p, body=body or None, headers=hdrs)
            r = c.getresponse()
            r.read()
            counts[(m, route(p), str(r.status))] += 1
            i += 1
            if new_conn_every and i % new_conn_every == 0:
                cs[i % conns].close()
                cs[i % conns] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    return counts, cs
