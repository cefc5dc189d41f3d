"""What is exported: route templates (--route and --config), the route
heuristic ({id}, {token}), ignore patterns, the cardinality cap per target
(--max-series-per-target, otel_metric_overflow="true") and configured
histogram bounds, against the real Node server (core.js) and the agent, on
both endpoints, exactly. core.js answers 404 to any path it does not know,
so any path makes a series.
"""

import os
import tempfile
import time

from selftests.lib.checks import check, check_eq, check_series
from selftests.lib.client import Client, drive_mix, drive_on
from selftests.lib.endpoints import (OTEL_BUCKETS, OTEL_DUR, OTEL_ERROR_KEYS, PLUGIN_DUR,
                                     PLUGIN_KEYS, SETTLE_S, check_histograms, check_traffic)
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, run_agent
from selftests.lib.scrape import bucket, parse_prom, scrape, series, snapshot, total

TOKEN = "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
OVERFLOW = {"otel_metric_overflow": "true"}


def config_file(text):
    """A config file with text; removed by the caller (os.unlink)."""
    fd, path = tempfile.mkstemp(prefix="otel-agent-test-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def drive(port, reqs):
    """(method, path, route, status) requests on one keep-alive connection.
    Returns {(method, route, status): n}."""
    return drive_mix(port, [(m, p, b"", r, s) for m, p, r, s in reqs])


def check_no_raw(tag, base, raws):
    """No raw path part (ids, tokens) appears on either endpoint."""
    for path in ("/metrics", "/metrics/otel"):
        status, _, body = scrape(base + path)
        check_eq(f"{tag}: GET {path}", 200, status)
        for raw in raws:
            check(raw not in body, f"{tag}: {path}: want no {raw!r} got it in the body")


# Templates tried in order; what the heuristic makes of paths none matches.
TEMPLATE_TRAFFIC = [
    ("GET", "/api/users/me", "/api/users/me", "404"),
    ("GET", "/api/users/42", "/api/users/{user}", "404"),
    ("GET", "/api/users/7?tab=1", "/api/users/{user}", "404"),
    ("GET", "/api/users/alice", "/api/users/{user}", "404"),
    ("GET", "/api/v2/items/123e4567-e89b-12d3-a456-426614174000", "/api/{version}/items/{item}",
     "404"),
    ("GET", "/api/users/alice/avatar", "/api/users/alice/avatar", "404"),
    ("GET", "/api/hello.world", "/api/hello.world", "404"),
    ("GET", f"/s/{TOKEN}", "/s/{token}", "404"),
    ("GET", "/session/sess_8f7a9c2e1b4d6f3a0c5e7b9d/end", "/session/{token}/end", "404"),
    ("GET", "/svc/auth-service-v2", "/svc/auth-service-v2", "404"),
    ("GET", "/hello", "/hello", "200"),
    ("PUT", "/items/42", "/items/{id}", "200"),
]
TEMPLATES = ["/api/users/me", "/api/users/{user}", "/api/{version}/items/{item}"]
RAW = ["/api/users/42", "/api/users/7", "/api/users/alice\"", TOKEN, "sess_8f7a",
       "123e4567", "tab=1"]


@needs("root", "node")
def test_routes_from_options():
    """--route templates, first match wins; other paths by the heuristic."""
    with Procs() as procs:
        extra = []
        for t in TEMPLATES:
            extra += ["--route", t]
        _, port, _, base = procs.traced("node", extra=extra)
        want = drive(port, TEMPLATE_TRAFFIC)
        check_traffic("--route", base, want)
        check_no_raw("--route", base, RAW)


@needs("root", "node")
def test_routes_from_config():
    """route, ignore and buckets from --config; --route is tried before the file's templates."""
    path = config_file("# routes of the test server\n"
                       "route /api/users/me\n"
                       "route /api/users/{user}   # the file's name for it\n"
                       "route /api/{version}/items/{item}\n"
                       "\n"
                       "ignore /healthz\n")
    try:
        with Procs() as procs:
            _, port, _, base = procs.traced("node", extra=[
                "--config", path, "--route", "/api/users/{uid}/avatar",
                "--route", "/api/users/{uid}"])
            # --route first: /api/users/me is the options' /api/users/{uid} now
            renamed = {"/api/users/me": "/api/users/{uid}",
                       "/api/users/alice/avatar": "/api/users/{uid}/avatar"}
            traffic = [(m, p, renamed.get(p.split("?")[0], r.replace("{user}", "{uid}")), s)
                       for m, p, r, s in TEMPLATE_TRAFFIC]
            want = drive(port, traffic + [("GET", "/healthz", None, "404")] * 3)
            want = {k: n for k, n in want.items() if k[1] is not None}
            check_traffic("--config", base, want,
                          counters={"otel_agent_requests_ignored_total": 3})
            check_no_raw("--config", base, RAW + ["healthz"])
    finally:
        os.unlink(path)


@needs("root", "node")
def test_ignore():
    """--ignore globs on the route: not exported, counted in otel_agent_requests_ignored_total."""
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=[
            "--ignore", "/healthz", "--ignore", "/internal/*", "--ignore", "*/{token}"])
        reqs = ([("GET", "/healthz", None, "404")] * 4
                + [("GET", "/internal/debug/42", None, "404")] * 2
                + [("GET", f"/reset/{TOKEN}", None, "404")]
                + [("GET", "/internal", "/internal", "404")]
                + [("GET", "/healthz/live", "/healthz/live", "404")]
                + [("GET", "/hello", "/hello", "200")] * 2)
        want = drive(port, reqs)
        want = {k: n for k, n in want.items() if k[1] is not None}
        check_traffic("--ignore", base, want, counters={"otel_agent_requests_ignored_total": 7})
        check_no_raw("--ignore", base, ["/healthz\"", "/internal/debug", "/reset"])


def _overflow_counts(got):
    """{endpoint family: value of its otel_metric_overflow="true" series}."""
    otel, plug = got["otel"], got["plugin"]
    return {
        "otel _count": series(otel, OTEL_DUR + "_count", (), OVERFLOW).get((), 0),
        "http_requests_total": series(plug, "http_requests_total", (), OVERFLOW).get((), 0),
        "plugin _count": series(plug, PLUGIN_DUR + "_count", (), OVERFLOW).get((), 0),
    }


def _wait_total(base, n):
    deadline = time.monotonic() + SETTLE_S
    got = snapshot(base)
    while time.monotonic() < deadline and (
            total(got["otel"], OTEL_DUR + "_count") < n
            or total(got["plugin"], "http_requests_total") < n):
        time.sleep(0.1)
        got = snapshot(base)
    time.sleep(0.2)
    return snapshot(base)


def _check_cap(tag, got, admitted, folded, sent):
    """The admitted routes' own series, one overflow series holding `folded`
    requests, sums equal to what was sent, on both endpoints."""
    otel, plug = got["otel"], got["plugin"]
    check_series(f"{tag}: /metrics/otel {OTEL_DUR}_count",
                 {(m, r, s, None): n for (m, r, s), n in admitted.items()},
                 series(otel, OTEL_DUR + "_count", OTEL_ERROR_KEYS, {"otel_metric_overflow": None}))
    check_series(f"{tag}: /metrics http_requests_total", admitted,
                 series(plug, "http_requests_total", PLUGIN_KEYS, {"otel_metric_overflow": None}))
    for name, n in _overflow_counts(got).items():
        check_eq(f"{tag}: {name} otel_metric_overflow=\"true\"", folded, n)
    for path, m, name in (("/metrics/otel", otel, OTEL_DUR + "_count"),
                          ("/metrics", plug, "http_requests_total"),
                          ("/metrics", plug, PLUGIN_DUR + "_count")):
        check_eq(f"{tag}: {path} sum of {name}", sent, total(m, name))
        overflow = [l for l, _ in m.get(name, []) if l.get("otel_metric_overflow")]
        check(len(overflow) <= 1, f"{tag}: {path} {name}: want one overflow series got "
              f"{len(overflow)}")
        for labels in overflow:
            extra = set(labels) - {"otel_metric_overflow", "otel_scope_name",
                                   "otel_scope_version"}
            check(not extra, f"{tag}: {path} {name} overflow series: want no other labels "
                  f"got {sorted(extra)}")
        check_eq(f"{tag}: {path} otel_agent_series_overflowed_total", folded,
                 total(m, "otel_agent_series_overflowed_total"))
    check_histograms(f"{tag}: /metrics/otel", otel, OTEL_DUR,
                     ("http_request_method", "http_route", "otel_metric_overflow"), OTEL_BUCKETS)


@needs("root", "node")
def test_cap_overflow():
    """--max-series-per-target 5, 12 routes: the first 5 stay, 7 fold into the overflow series."""
    routes = [f"/cap/{chr(ord('a') + i)}" for i in range(12)]
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=["--max-series-per-target", "5"])
        c = Client(port)
        try:
            admitted = {}
            for r in routes[:5]:
                drive_on(c, [("GET", r, b"", r, "404")] * 2, admitted)
            got = _wait_total(base, 10)
            _check_cap("first 5 routes", got, admitted, 0, 10)

            for r in routes[5:]:
                drive_on(c, [("GET", r, b"", r, "404")] * 2)
            got = _wait_total(base, 24)
            _check_cap("12 routes", got, admitted, 14, 24)
            for r in routes[5:]:
                for path, m in (("/metrics/otel", got["otel"]), ("/metrics", got["plugin"])):
                    body_routes = {l.get("http_route", l.get("path"))
                                   for l, _ in m.get(OTEL_DUR + "_count", [])
                                   + m.get("http_requests_total", [])}
                    check(r not in body_routes, f"12 routes: {path}: want no series for {r} "
                          "(past the cap) got one")

            # an early route keeps its own series; the overflow does not move
            drive_on(c, [("GET", routes[0], b"", routes[0], "404")], admitted)
            got = _wait_total(base, 25)
            _check_cap("early route again", got, admitted, 14, 25)
        finally:
            c.close()


@needs("root", "node")
def test_cap_admits_first_seen():
    """--max-series-per-target 2: a route that came before a flood of new
    routes keeps its own series although the flood sorts before it and no
    scrape came in between; the flood's first route takes the other place."""
    first, flood = "/seen/z", ["/seen/a", "/seen/b", "/seen/c"]
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=["--max-series-per-target", "2"])
        c = Client(port)
        try:
            admitted = {}
            drive_on(c, [("GET", first, b"", first, "404")] * 3, admitted)
            time.sleep(0.01)  # the kernel stamps each series with the time it creates it
            drive_on(c, [("GET", flood[0], b"", flood[0], "404")] * 2, admitted)
            for r in flood[1:]:
                drive_on(c, [("GET", r, b"", r, "404")] * 2)
            got = _wait_total(base, 9)
            _check_cap("first seen", got, admitted, 4, 9)
        finally:
            c.close()


def _les(body, family):
    """The le values of family's bucket samples, as printed, in order, first series only."""
    out = []
    for line in body.splitlines():
        if line.startswith(family + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            if le in out:
                break
            out.append(le)
    return out


def _check_buckets(tag, base, otel_bounds, otel_les, plugin_bounds, plugin_les, nslow, nfast):
    deadline = time.monotonic() + SETTLE_S
    while True:
        got, bodies = {}, {}
        for key, path in (("otel", "/metrics/otel"), ("plugin", "/metrics")):
            status, _, body = scrape(base + path)
            check_eq(f"{tag}: GET {path}", 200, status)
            got[key], bodies[key] = parse_prom(body), body
        if (total(got["otel"], OTEL_DUR + "_count") >= nslow + nfast
                or time.monotonic() > deadline):
            break
        time.sleep(0.1)
    check_histograms(f"{tag}: /metrics/otel", got["otel"], OTEL_DUR,
                     ("http_request_method", "http_route"), otel_bounds)
    check_histograms(f"{tag}: /metrics", got["plugin"], PLUGIN_DUR, ("method", "path"),
                     plugin_bounds)
    check_eq(f"{tag}: /metrics/otel le as printed", otel_les + ["+Inf"],
             _les(bodies["otel"], OTEL_DUR))
    check_eq(f"{tag}: /metrics le as printed", plugin_les + ["+Inf"],
             _les(bodies["plugin"], PLUGIN_DUR))
    return got


@needs("root", "node")
def test_custom_buckets():
    """--buckets-otel and --buckets-plugin: exactly those le values, exact counts (60 ms /slow)."""
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=[
            "--buckets-otel", "0.002,0.02,0.2", "--buckets-plugin", "0.001, 0.1 ,2.5"])
        drive(port, [("GET", "/slow", "/slow", "200")] * 2 + [("GET", "/hello", "/hello", "200")] * 3)
        got = _check_buckets("--buckets-*", base, [0.002, 0.02, 0.2], ["0.002", "0.02", "0.2"],
                             [0.001, 0.1, 2.5], ["0.001", "0.1", "2.5"], 2, 3)
        slow_o = {"http_request_method": "GET", "http_route": "/slow"}
        slow_p = {"method": "GET", "path": "/slow"}
        check_eq("/metrics/otel GET /slow le=0.02", 0, bucket(got["otel"], OTEL_DUR + "_bucket",
                                                               slow_o, 0.02))
        check_eq("/metrics/otel GET /slow le=0.2", 2, bucket(got["otel"], OTEL_DUR + "_bucket",
                                                              slow_o, 0.2))
        check_eq("/metrics GET /slow le=0.001", 0, bucket(got["plugin"], PLUGIN_DUR + "_bucket",
                                                           slow_p, 0.001))
        check_eq("/metrics GET /slow le=0.1", 2, bucket(got["plugin"], PLUGIN_DUR + "_bucket",
                                                         slow_p, 0.1))


@needs("root", "node")
def test_buckets_from_config():
    """buckets-otel and buckets-plugin from --config; an option replaces the file's."""
    path = config_file("buckets-otel 0.25, 0.5,1\n"
                       "buckets-plugin 0.001,0.01\n")
    try:
        with Procs() as procs:
            _, port, _, base = procs.traced("node", extra=["--config", path,
                                                           "--buckets-plugin", "0.05,7.5"])
            drive(port, [("GET", "/slow", "/slow", "200")] + [("GET", "/hello", "/hello", "200")])
            _check_buckets("config buckets", base, [0.25, 0.5, 1], ["0.25", "0.5", "1"],
                           [0.05, 7.5], ["0.05", "7.5"], 1, 1)
    finally:
        os.unlink(path)


def _run_bad(tag, args, want_rc, want_err):
    rc, err = run_agent([os.getpid()], extra=args, timeout=20)
    check_eq(f"{tag}: exit code", want_rc, rc)
    for w in want_err:
        check(w in err, f"{tag}: stderr: want {w!r} got {err[:200]!r}")


def test_config_errors():
    """A bad config file or option: exit 2 before anything is loaded, each bad line as FILE:LINE."""
    path = config_file("route /api/users/{id}\n"
                       "rout /typo\n"
                       "\n"
                       "max-series-per-target lots\n")
    try:
        _run_bad("bad config", ["--config", path], 2,
                 [f"{path}:2: unknown key 'rout'", f"{path}:4: max-series-per-target takes"])
    finally:
        os.unlink(path)
    _run_bad("missing config", ["--config", "/nonexistent/otel-agent.conf"], 2,
             ["cannot read the config file /nonexistent/otel-agent.conf"])
    _run_bad("bad template", ["--route", "/users/{id"], 2, ["--route '/users/{id'"])
    _run_bad("bad buckets", ["--buckets-otel", "0.1,0.01"], 2, ["not strictly increasing"])
    many = ",".join(f"{0.01 * (i + 1):.2f}" for i in range(20))
    fewer = ",".join(f"{0.001 * (i + 1):.3f}" for i in range(20))
    _run_bad("too many bounds", ["--buckets-otel", many, "--buckets-plugin", fewer], 2,
             ["more than the 31 distinct bounds"])
