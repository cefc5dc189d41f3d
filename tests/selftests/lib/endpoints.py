"""Exact checks of both endpoints against what a test sent: /metrics (the
plugin's names) and /metrics/otel (semantic conventions), their histograms
and the agent's self-metrics."""

import time

from .checks import TestFailure, check, check_eq, check_series
from .client import add
from .scrape import bucket, promtool_check, scrape, series, snapshot, total

OTEL_DUR = "http_server_request_duration_seconds"
PLUGIN_DUR = "http_request_duration_seconds"
OTEL_KEYS = ("http_request_method", "http_route", "http_response_status_code")
OTEL_ERROR_KEYS = OTEL_KEYS + ("error_type",)
PLUGIN_KEYS = ("method", "path", "status")

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
    "otel_agent_framing_steps_exhausted_total",
    "otel_agent_syscall_args_missing_total",
]

# Self-metrics check_traffic pins; each is 0 unless the test says otherwise.
COUNTERS = (
    "otel_agent_requests_dropped_total",
    "otel_agent_not_http_connections_total",
    "otel_agent_unmatched_responses_total",
    "otel_agent_connection_errors_total",
    "otel_agent_upgraded_connections_total",
    "otel_agent_map_update_errors_total",
    "otel_agent_framing_steps_exhausted_total",
    "otel_agent_syscall_args_missing_total",
)

SETTLE_S = 2.0


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
        inf = bucket(metrics, base + "_bucket", where, float("inf"))
        check_eq(f"{tag} {name} +Inf vs _count", count, inf)
        check(key in series(metrics, base + "_sum", keys), f"{tag} {name}: want _sum got none")


def check_scheme_and_version(prefix, otel):
    """Every /metrics/otel duration series: url_scheme http, protocol version 1.1."""
    for labels, _ in otel.get(OTEL_DUR + "_count", []):
        what = f"{labels.get('http_request_method')} {labels.get('http_route')}"
        check_eq(f"{prefix}/metrics/otel {what} url_scheme", "http", labels.get("url_scheme"))
        check_eq(f"{prefix}/metrics/otel {what} network_protocol_version", "1.1",
                 labels.get("network_protocol_version"))


def check_full_scrape(got, want, server_pid, sent):
    """Exact per-series checks of both endpoints after driving client.MIX."""
    otel, otel_body = got["otel"]
    plug, plug_body = got["plugin"]

    # /metrics (plugin-compatible).
    check_series("/metrics http_requests_total",
                 want, series(plug, "http_requests_total", PLUGIN_KEYS))
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
    check_histograms("/metrics", plug, PLUGIN_DUR, ("method", "path"), PLUGIN_BUCKETS)

    # /metrics/otel (semantic conventions).
    check_series("/metrics/otel duration _count", want,
                 series(otel, OTEL_DUR + "_count", OTEL_KEYS))
    check_scheme_and_version("", otel)
    for labels, _ in otel.get(OTEL_DUR + "_count", []):
        what = f"{labels.get('http_request_method')} {labels.get('http_route')}"
        status = labels.get("http_response_status_code", "")
        want_et = status if status.startswith("5") else None
        check_eq(f"/metrics/otel {what} {status} error_type", want_et, labels.get("error_type"))
    check_histograms("/metrics/otel", otel, OTEL_DUR, OTEL_KEYS, OTEL_BUCKETS)
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
        ("/metrics", plug, PLUGIN_DUR, {"method": "GET", "path": "/slow"}),
        ("/metrics/otel", otel, OTEL_DUR, {"http_request_method": "GET", "http_route": "/slow"}),
    ):
        check_eq(f"{path} GET /slow le=0.05", 0, bucket(m, base + "_bucket", where, 0.05))
        check_eq(f"{path} GET /slow le=0.5", slow_n, bucket(m, base + "_bucket", where, 0.5))
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


def _counter_ok(want, got):
    if isinstance(want, tuple):
        return want[0] <= got <= want[1]
    return got == want


def _want_counters(counters):
    want = {name: 0 for name in COUNTERS}
    want.update(counters or {})
    return want


def expected_otel(ok, aborted):
    want = {}
    for (m, r, s), n in ok.items():
        add(want, (m, r, s, s if s.startswith("5") else None), n)
    for (m, r, etype), n in aborted.items():
        add(want, (m, r, None, etype), n)
    return want


def _settled(got, ok, aborted, counters):
    if total(got["plugin"], "http_requests_total") != sum(ok.values()):
        return False
    if total(got["otel"], OTEL_DUR + "_count") != sum(ok.values()) + sum(aborted.values()):
        return False
    return all(_counter_ok(w, total(m, name)) for name, w in counters.items()
               for m in got.values())


def check_traffic(tag, base, ok, aborted=None, counters=None):
    """Wait until both endpoints settle, then check them exactly.

    ok: {(method, route, status): n}, the answered requests.
    aborted: {(method, route, error_type): n}, requests whose connection was
      closed ("connection_closed") or reset ("connection_reset") before the
      response.
    counters: self-metric -> want (an int, or (lo, hi)); the COUNTERS not named
      must be 0.
    Returns the last snapshot.
    """
    aborted = aborted or {}
    counters = _want_counters(counters)
    deadline = time.monotonic() + SETTLE_S
    got = snapshot(base)
    while not _settled(got, ok, aborted, counters) and time.monotonic() < deadline:
        time.sleep(0.1)
        got = snapshot(base)
    time.sleep(0.2)  # anything counted late (wrongly) lands too
    got = snapshot(base)
    try:
        _check_snapshot(tag, got, ok, aborted, counters)
    except TestFailure as e:
        raise TestFailure(f"{e} [agent: {_self_summary(got['plugin'])}]") from None
    return got


def _self_summary(m):
    """The agent's own counters, for failure messages."""
    names = sorted(n for n in m if n.startswith("otel_agent_") and n.endswith("_total"))
    return " ".join(f"{n[len('otel_agent_'):-len('_total')]}={total(m, n):g}" for n in names)


def _check_snapshot(tag, got, ok, aborted, counters):
    otel, plug = got["otel"], got["plugin"]

    # /metrics: answered requests only; 5xx and aborted ones are errors.
    check_series(f"{tag}: /metrics http_requests_total", ok,
                 series(plug, "http_requests_total", PLUGIN_KEYS))
    want_err = {k: n for k, n in ok.items() if k[2].startswith("5")}
    for k, n in aborted.items():
        add(want_err, k, n)
    check_series(f"{tag}: /metrics http_request_errors_total", want_err,
                 series(plug, "http_request_errors_total", ("method", "path", "errorType")))
    # Durations of answered requests; whether an aborted one is timed on
    # /metrics is not specified, so either count is accepted for its key.
    want_dur, maybe = {}, {}
    for (m, r, _), n in ok.items():
        add(want_dur, (m, r), n)
    for (m, r, _), n in aborted.items():
        add(maybe, (m, r), n)
    got_dur = series(plug, PLUGIN_DUR + "_count", ("method", "path"))
    for k in sorted(set(want_dur) | set(maybe) | set(got_dur), key=str):
        w, g = want_dur.get(k, 0), got_dur.get(k, 0)
        check(g in (w, w + maybe.get(k, 0)),
              f"{tag}: /metrics {PLUGIN_DUR}_count {' '.join(k)}: want {w}"
              + (f" or {w + maybe[k]}" if k in maybe else "") + f" got {g:g}")

    # /metrics/otel: answered and aborted requests, each with its labels.
    check_series(f"{tag}: /metrics/otel {OTEL_DUR}_count", expected_otel(ok, aborted),
                 series(otel, OTEL_DUR + "_count", OTEL_ERROR_KEYS))
    check_scheme_and_version(f"{tag}: ", otel)
    for path, m in (("/metrics", plug), ("/metrics/otel", otel)):
        statuses = {l.get("status", l.get("http_response_status_code"))
                    for l, _ in m.get("http_requests_total", []) + m.get(OTEL_DUR + "_count", [])}
        check("100" not in statuses, f"{tag}: {path}: want no series with status 100 got one")
    if ok:
        check_histograms(f"{tag}: /metrics", plug, PLUGIN_DUR, ("method", "path"),
                         PLUGIN_BUCKETS)
    if ok or aborted:
        check_histograms(f"{tag}: /metrics/otel", otel, OTEL_DUR, OTEL_ERROR_KEYS, OTEL_BUCKETS)

    for path, m in (("/metrics", plug), ("/metrics/otel", otel)):
        for name, w in counters.items():
            check(name in m, f"{tag}: {path} {name}: want present got missing")
            g = total(m, name)
            want_s = f"{w[0]}..{w[1]}" if isinstance(w, tuple) else str(w)
            check(_counter_ok(w, g), f"{tag}: {path} {name}: want {want_s} got {g:g}")


def check_duration(tag, got, method, route, below=None, above=None, n=1):
    """n requests of method route took more than `above` and at most `below`
    seconds, on both endpoints. A bound must be a bucket bound of both, except
    the ones only /metrics/otel has (0.025, 0.075), which are checked there
    alone; any other bound fails the test rather than go unchecked."""
    otel_only = set(OTEL_BUCKETS) - set(PLUGIN_BUCKETS)
    for bound in (above, below):
        check(bound is None or bound in OTEL_BUCKETS or bound in PLUGIN_BUCKETS,
              f"{tag}: check_duration bound {bound} is a bucket bound of neither endpoint")
    for path, m, name, where in (
        ("/metrics", got["plugin"], PLUGIN_DUR + "_bucket", {"method": method, "path": route}),
        ("/metrics/otel", got["otel"], OTEL_DUR + "_bucket",
         {"http_request_method": method, "http_route": route}),
    ):
        bounds = PLUGIN_BUCKETS if path == "/metrics" else OTEL_BUCKETS
        for bound in (above, below):
            check(bound is None or bound in bounds or (path == "/metrics" and bound in otel_only),
                  f"{tag}: check_duration bound {bound} is not a bucket bound of {path}")
        if above is not None and above in bounds:
            check_eq(f"{tag}: {path} {method} {route} le={above:g} (want slower)", 0,
                     bucket(m, name, where, above))
        if below is not None and below in bounds:
            check_eq(f"{tag}: {path} {method} {route} le={below:g}", n,
                     bucket(m, name, where, below))


def check_healthy(tag, agent, base):
    check(agent.poll() is None, f"{tag}: agent: want running got exit {agent.returncode}")
    status, _, body = scrape(base + "/healthz")
    check_eq(f"{tag}: /healthz", 200, status)
