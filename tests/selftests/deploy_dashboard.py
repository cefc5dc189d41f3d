"""The Grafana dashboard of deploy/grafana/: its JSON checked against
Grafana's documented dashboard JSON model, and every panel's PromQL run
against a real Prometheus that scraped the agent under known traffic, each
result checked against what was sent. Grafana itself is not installable
here; Prometheus is configured from deploy/prometheus/prometheus.yml (its
jobs, relabelling and rules, only the target and intervals changed), so the
same run checks that the shipped rules record what they should.
"""

import json
import os
import re
import tempfile
import time
import urllib.parse

import yaml

from selftests.lib.checks import TestFailure, check, check_eq, each
from selftests.lib.client import Client, drive, request
from selftests.lib.needs import needs
from selftests.lib.procs import REPO, Procs, env_without
from selftests.lib.promserver import PROMETHEUS, Prometheus
from selftests.lib.scrape import scrape_metrics, total

DASHBOARD = os.path.join(REPO, "deploy", "grafana", "otel-agent-http.json")
PROM_DIR = os.path.join(REPO, "deploy", "prometheus")
SEED_JOB, PLUGIN_JOB = "metasheet-dev", "metasheet-dev-plugin"
SERVICE = "core-deploy"
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
BUILTINS = {"__rate_interval", "__range", "__interval"}
GRAFANA_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")

# The fields of Grafana's dashboard JSON model (grafana.com/docs/grafana/latest/
# dashboards/build-dashboards/view-dashboard-json-model/) and their types.
REQUIRED = {
    "id": (type(None), int), "uid": (type(None), str), "title": str, "tags": list,
    "timezone": str, "editable": bool, "graphTooltip": int, "panels": list, "time": dict,
    "timepicker": dict, "templating": dict, "annotations": dict, "refresh": (str, bool),
    "schemaVersion": int, "version": int, "links": list,
}

# Sent twice, the second batch inside the query window; plus one request on
# /hang closed unanswered in each batch, and one held open at the queries.
MIX = ([("GET", "/hello", None, "/hello", "200")] * 20
       + [("GET", "/slow", None, "/slow", "200")] * 5
       + [("GET", "/boom", None, "/boom", "500")] * 5
       + [("PUT", "/items/7", b"x", "/items/{id}", "200")] * 10
       + [("GET", "/nope", None, "/nope", "404")] * 5)
PER_ROUTE = {"/hello": 20, "/slow": 5, "/boom": 5, "/items/{id}": 10, "/nope": 5, "/hang": 1}
SENT_5XX = 5 / 45
SETTLE_S = 5.0


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(dash):
    out = []

    def walk(panels):
        for p in panels:
            out.append(p)
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def walk_uids(node, path="$"):
    """[(json path, value)] of every "uid" key in node."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "uid":
                out.append((f"{path}.uid", v))
            out += walk_uids(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += walk_uids(v, f"{path}[{i}]")
    return out


# ---------------------------------------------------------------------------
# The JSON model.
# ---------------------------------------------------------------------------


def _check_panel(p, variables):
    where = f"panel {p.get('id')} {p.get('title')!r}"
    check(isinstance(p.get("id"), int) and isinstance(p.get("type"), str) and p.get("title"),
          f"{where}: want an int id, a type and a title")
    g = p.get("gridPos", {})
    check(all(isinstance(g.get(k), int) for k in "hwxy"), f"{where}: gridPos {g}: want h w x y")
    check(1 <= g["w"] <= 24 and g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] >= 1
          and g["y"] >= 0, f"{where}: gridPos {g} outside the 24-column grid")
    if p["type"] == "row":
        return
    check_eq(f"{where} datasource", DS_REF, p.get("datasource"))
    targets = p.get("targets", [])
    check(targets, f"{where}: want queries got none")
    refs = [t.get("refId") for t in targets]
    check(len(set(refs)) == len(refs) and all(refs), f"{where}: refIds {refs}: want unique")
    for t in targets:
        check(t.get("expr"), f"{where} {t.get('refId')}: want an expr")
        check(t.get("datasource", DS_REF) == DS_REF,
              f"{where} {t.get('refId')}: datasource {t.get('datasource')}: want {DS_REF}")
        for m in GRAFANA_VAR.finditer(t["expr"]):
            name = m.group(1) or m.group(2)
            check(name in variables or name in BUILTINS,
                  f"{where} {t['refId']}: ${name} is no variable of the dashboard")


def test_dashboard_json_model():
    """The dashboard has the fields of Grafana's JSON model with their types,
    panels on the 24-column grid without overlaps, a datasource variable every
    query uses, job and service_name variables, and no hard-coded uid."""
    dash = load_dashboard()
    for field, types in REQUIRED.items():
        check(field in dash, f"dashboard: want field {field!r}")
        check(isinstance(dash[field], types),
              f"dashboard {field}: want {types} got {type(dash[field]).__name__}")
    check(dash["graphTooltip"] in (0, 1, 2), f"graphTooltip: want 0, 1 or 2 got {dash['graphTooltip']}")
    check("from" in dash["time"] and "to" in dash["time"], f"time: want from and to got {dash['time']}")
    check(isinstance(dash["templating"].get("list"), list), "templating: want a list")
    check(isinstance(dash["annotations"].get("list"), list), "annotations: want a list")
    check(all(isinstance(t, str) for t in dash["tags"]), "tags: want strings")
    # No uid that names one Grafana's objects: the datasource comes from the variable.
    check_eq("uids other than the datasource variable", [],
             [(p, v) for p, v in walk_uids(dash) if v not in (None, "${datasource}")])

    variables = {v.get("name"): v for v in dash["templating"]["list"]}
    check_eq("variable names unique", len(dash["templating"]["list"]), len(variables))
    ds = variables.get("datasource", {})
    check_eq("variable datasource type, query", ("datasource", "prometheus"),
             (ds.get("type"), ds.get("query")))
    for name in ("job", "service_name"):
        v = variables.get(name, {})
        check_eq(f"variable {name} type", "query", v.get("type"))
        check_eq(f"variable {name} datasource", DS_REF, v.get("datasource"))

    panels = all_panels(dash)
    ids = [p.get("id") for p in panels]
    check_eq("panel ids unique", len(ids), len(set(ids)))
    titles = [p.get("title") for p in panels]
    check_eq("panel titles unique", len(titles), len(set(titles)))
    each(panels, lambda p: _check_panel(p, variables))
    cells = {}
    for p in dash["panels"]:  # a collapsed row's panels are laid out when it opens
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                check((x, y) not in cells,
                      f"panel {p['title']!r} overlaps {cells.get((x, y))!r} at x {x} y {y}")
                cells[(x, y)] = p["title"]


# ---------------------------------------------------------------------------
# The queries, against a real Prometheus.
# ---------------------------------------------------------------------------


def prometheus_config(agent_base):
    """deploy/prometheus/prometheus.yml with the agent's address for
    localhost:9464, 1 s intervals and absolute rule file paths."""
    with open(os.path.join(PROM_DIR, "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    target = urllib.parse.urlparse(agent_base).netloc
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [os.path.join(PROM_DIR, f) for f in cfg["rule_files"]]
    for job in cfg["scrape_configs"]:
        for sc in job["static_configs"]:
            check_eq(f"job {job['job_name']} targets", ["localhost:9464"], sc["targets"])
            sc["targets"] = [target]
    return yaml.safe_dump(cfg)


def settle(base, name, n):
    """Scrape the agent until the total of sample name reaches n."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        got = total(scrape_metrics(base, "/metrics/otel"), name)
        if got >= n:
            return
        check(time.monotonic() < deadline, f"agent {name}: want {n} within {SETTLE_S}s got {got}")
        time.sleep(0.05)


def waiting_hang(port, base, active):
    """A connection whose GET /hang the server read and will never answer,
    once the agent counts `active` GETs waiting."""
    c = Client(port)
    c.send(request("GET", "/hang"))
    settle(base, "http_server_active_requests", active)
    return c


def batch(port, base, n):
    """MIX, then a /hang closed unanswered (the n-th)."""
    want = drive(port, MIX)
    waiting_hang(port, base, 1).close()
    settle(base, "otel_agent_connection_errors_total", n)
    return want


def substitute(expr, window):
    """The dashboard's variables as Grafana would fill them in for this run."""
    values = {"job": SEED_JOB, "service_name": SERVICE, "__rate_interval": window,
              "__range": window, "__interval": "1s"}
    return GRAFANA_VAR.sub(lambda m: values[m.group(1) or m.group(2)], expr)


def by(results, *labels):
    """{label values (one: the value itself): sample value}."""
    out = {}
    for metric, v in results:
        key = tuple(metric.get(l, "") for l in labels)
        out[key[0] if len(key) == 1 else key] = v
    return out


def _rates(q, seconds):
    """Request rate by route and status: about what each route got over the window."""
    got = by(q["A"], "http_route", "http_response_status_code")
    want = {("/hello", "200"), ("/slow", "200"), ("/boom", "500"), ("/items/{id}", "200"),
            ("/nope", "404"), ("/hang", "")}
    check_eq("series (route, status)", want, set(got))
    for (route, _), r in got.items():
        n = PER_ROUTE[route]
        check(0.5 * n <= r * seconds <= 2 * n,
              f"{route}: want about {n / seconds:.2f}/s got {r:.3f}/s")


def _ratio(q, seconds):
    check_eq("series", 1, len(q["A"]))
    check(abs(q["A"][0][1] - SENT_5XX) < 1e-3, f"want {SENT_5XX:.4f} got {q['A'][0][1]}")


def _ratio_by_route(q, seconds):
    check_eq("5xx ratio by route", {"/hello": 0, "/slow": 0, "/boom": 1, "/items/{id}": 0,
                                    "/nope": 0}, by(q["A"], "http_route"))


def _quantiles(q, seconds):
    p50, p95, p99 = (by(q[r], "http_route") for r in "ABC")
    check_eq("p50 routes", set(PER_ROUTE), set(p50))
    check_eq("p95, p99 routes", (set(p50), set(p50)), (set(p95), set(p99)))
    for route in p50:
        check(p50[route] <= p95[route] <= p99[route],
              f"{route}: want p50 <= p95 <= p99 got {p50[route]} {p95[route]} {p99[route]}")
    # /slow answers after 60 ms: every request is above the 0.05 bound, so
    # each quantile lies in a bucket above it: 0.05-0.075, or a later one on
    # a loaded machine (p95 and p99 of 10 requests are the slowest one's).
    # /hello answers at once.
    check(0.05 < p50["/slow"] <= 0.25, f"/slow p50: want 0.05..0.25 s got {p50['/slow']}")
    for name, qs in (("p95", p95), ("p99", p99)):
        check(0.05 < qs["/slow"] <= 1, f"/slow {name}: want 0.05..1 s got {qs['/slow']}")
    check(0 < p50["/hello"] <= 0.005, f"/hello p50: want under 0.005 s got {p50['/hello']}")


def _slowest(q, seconds):
    got = by(q["A"], "http_route")
    check_eq("routes (all 6 of the top 10)", set(PER_ROUTE), set(got))
    check(0.05 < got["/slow"] <= 1, f"/slow p99: want 0.05..1 s got {got['/slow']}")


def _active(q, seconds):
    check_eq("active requests by method (one /hang held)", {"GET": 1, "PUT": 0},
             by(q["A"], "http_request_method"))


def _unanswered(q, seconds):
    got = by(q["A"], "http_route", "error_type")
    check_eq("series (route, error_type)", [("/hang", "connection_closed")], list(got))
    check(got[("/hang", "connection_closed")] > 0, f"rate: want > 0 got {got}")


def _sizes(q, seconds):
    got = by(q["A"], "http_route")
    check("/items/{id}" in got and "/hello" in got, f"routes: want /items/{{id}}, /hello got {got}")
    # Every body sent or answered here is under 64 bytes: the first bucket.
    for route, v in got.items():
        check(0 < v <= 64, f"{route}: want p95 in the first bucket (0, 64] got {v}")


def _one(value):
    def expect(q, seconds):
        check_eq("values", [value], [v for _, v in q["A"]])
    return expect


def _version(q, seconds):
    check(len(q["A"]) == 1 and q["A"][0][0].get("version"),
          f"want one series with a version got {q['A']}")


def _agent_rates(q, seconds):
    (req,), (resp,) = [v for _, v in q["A"]], [v for _, v in q["B"]]
    check(req > 0 and resp > 0 and req >= resp, f"want requests >= responses > 0 got {req} {resp}")


def _zero(*refs, positive=()):
    def expect(q, seconds):
        for ref in refs + positive:
            vals = [v for _, v in q[ref]]
            check(vals, f"{ref}: want series got none")
            check(all(v > 0 for v in vals) if ref in positive else all(v == 0 for v in vals),
                  f"{ref}: want {'> 0' if ref in positive else '0'} got {vals}")
    return expect


def _data_lost(q, seconds):
    check_eq("map update error series", {"conns", "series", "targets", "reqs"},
             set(by(q["A"], "map")))
    _zero("A", "B")(q, seconds)


EXPECT = {
    "Request rate by route and status": _rates,
    "5xx ratio": _ratio,
    "5xx ratio by route": _ratio_by_route,
    "Duration p50, p95, p99 by route": _quantiles,
    "Slowest routes (p99 over the time range)": _slowest,
    "Active requests by method": _active,
    "Requests ended without a response by route": _unanswered,
    "Request body size p95 by route": _sizes,
    "Response body size p95 by route": _sizes,
    "Scrape up": _one(1),
    "Targets traced": _one(1),
    "Agent version": _version,
    "Requests recognised and responses matched": _agent_rates,
    "Data lost: map update errors and dropped requests": _data_lost,
    "Unmatched responses, not-HTTP connections, connection errors": _zero("A", "B",
                                                                          positive=("C",)),
    "Series overflowed, spilled; paths truncated": _zero("A", "B", "C"),
}


def _check_variables(prom, dash, at):
    """Each query variable's label_values(...) lists this run's value."""
    want = {"job": SEED_JOB, "service_name": SERVICE}
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+), *(\w+)\)", q)
        check(m, f"variable {v['name']}: want label_values(selector, label) got {q!r}")
        selector = substitute(m.group(1), "1m")
        values = prom.api(f"label/{m.group(2)}/values", **{"match[]": selector,
                                                           "start": at - 60, "end": at})
        check_eq(f"variable {v['name']} values ({q})", [want[v["name"]]], values)


def _latest(prom, q):
    """The newest timestamp of q's series, or 0."""
    r = prom.query(f"max(timestamp({q}))")
    return r[0][1] if r else 0.0


def _plugin_scraped_after(prom, t, deadline_s=10):
    """Waits until the /metrics job scraped after t too: its scrapes are not
    in step with the seed job's, and a series whose first sample holds both
    batches has no increase to rate (its recorded 5xx ratio is 0/0)."""
    deadline = time.monotonic() + deadline_s
    while _latest(prom, f'up{{job="{PLUGIN_JOB}"}}') <= t:
        check(time.monotonic() < deadline,
              f"a scrape of {PLUGIN_JOB} after {t:.3f} within {deadline_s}s ({prom.log_tail()})")
        time.sleep(0.1)


def _evaluated_after(prom, t, deadline_s=10):
    """Waits until both jobs were scraped after t, then until every rule
    group ran after those scrapes (its records' timestamps); returns that time."""
    deadline = time.monotonic() + deadline_s
    scraped = ran = []
    while True:
        scraped = [_latest(prom, f'up{{job="{job}"}}') for job in (SEED_JOB, PLUGIN_JOB)]
        if min(scraped) > t:
            break
        check(time.monotonic() < deadline, f"scrapes of both jobs after {t:.3f} within "
              f"{deadline_s}s: got {scraped} ({prom.log_tail()})")
        time.sleep(0.1)
    while True:
        ran = [_latest(prom, q) for q in ("job_route:http_server_requests:rate5m",
                                          "job_path:http_requests:rate5m",
                                          "job:otel_agent_targets:sum")]
        if min(ran) > max(scraped):
            return max(ran)
        check(time.monotonic() < deadline, f"rule groups run after the scrapes {scraped} "
              f"within {deadline_s}s: got {ran} ({prom.log_tail()})")
        time.sleep(0.1)


def _check_recorded(prom, after):
    """The shipped rules, evaluated by this Prometheus once both jobs scraped
    what was sent before `after`, record every series."""
    at = _evaluated_after(prom, after)
    groups = []
    for f in ("otel-agent.rules.yml",):
        with open(os.path.join(PROM_DIR, f)) as fh:
            groups += yaml.safe_load(fh)["groups"]
    names = sorted({r["record"] for g in groups for r in g["rules"] if "record" in r})
    empty = [n for n in names if not prom.query(f'{{__name__="{n}"}}', at)]
    check_eq("recording rules with no series", [], empty)

    def value(q):
        r = prom.query(q, at)
        check_eq(f"{q} series", 1, len(r))
        return r[0][1]
    check_eq("recorded 5xx ratio /boom", 1,
             value(f'job_route:http_server_5xx_ratio:rate5m{{job="{SEED_JOB}",http_route="/boom"}}'))
    check_eq("recorded 5xx ratio /hello", 0,
             value(f'job_route:http_server_5xx_ratio:rate5m{{job="{SEED_JOB}",http_route="/hello"}}'))
    check_eq("recorded plugin 5xx ratio /boom", 1,
             value(f'job_path:http_requests_5xx_ratio:rate5m{{job="{PLUGIN_JOB}",path="/boom"}}'))
    p99 = value('job_route:http_server_request_duration_seconds:histogram_quantile_rate5m'
                '{http_route="/slow",quantile="0.99"}')
    check(0.05 < p99 <= 1, f"recorded p99 /slow: want 0.05..1 s got {p99}")
    check_eq("recorded targets", 1, value(f'job:otel_agent_targets:sum{{job="{SEED_JOB}"}}'))
    # Both jobs scraped; otel_agent_* kept from the seed's only.
    check_eq(f"up of {PLUGIN_JOB}", 1, value(f'up{{job="{PLUGIN_JOB}"}}'))
    check_eq(f"otel_agent_* series of {PLUGIN_JOB}", [],
             prom.query(f'{{job="{PLUGIN_JOB}",__name__=~"otel_agent_.*"}}', at))
    health = prom.query('ALERTS{alertname=~"OtelAgent(Down|NoTarget|MapUpdateErrors|'
                        'RequestsDropped)"}', at)
    check_eq("agent alerts pending or firing on a healthy agent", [], health)


@needs("root", "node", PROMETHEUS)
def test_dashboard_queries():
    """Every panel query of the dashboard, variables filled in, against a
    Prometheus configured from deploy/prometheus/ that scraped the agent
    (--body-sizes) under known traffic: the expected series and values
    (rates, the 5xx share sent, quantiles in the right buckets, one request
    held active); the variables' values; the shipped rules' records."""
    dash = load_dashboard()
    queries = [(p["title"], t["refId"], t["expr"]) for p in all_panels(dash)
               for t in p.get("targets", [])]
    titles = {t for t, _, _ in queries}
    check_eq("panels without an expectation here", set(), titles - set(EXPECT))
    check_eq("expectations without a panel", set(), set(EXPECT) - titles)
    with tempfile.TemporaryDirectory(prefix="oa-dash-") as tmp, Procs() as procs:
        srv, port = procs.server("node", env=env_without(
            "OTEL_RESOURCE_ATTRIBUTES", OTEL_SERVICE_NAME=SERVICE))
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true", "--body-sizes"],
                                 env=env_without("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"))
        prom = Prometheus(procs, tmp, config=prometheus_config(base), job=SEED_JOB)
        held = None
        try:
            prom.scrape_after(0, deadline_s=15)
            batch(port, base, 1)
            t1 = time.time()
            s1 = prom.scrape_after(t1)  # holds all of the first batch
            _plugin_scraped_after(prom, t1)
            want = batch(port, base, 2)
            sent = time.time()
            held = waiting_hang(port, base, 1)
            prom.scrape_after(time.time())
            at = prom.scrape_after(prom.last_scrape())
            # From just before s1 to the last scrape: every series' first
            # sample in the window is at s1, so ratios are exact.
            seconds = at - s1 + 0.3
            window = f"{int(seconds * 1000)}ms"
            check_eq("sent per (method, route, status)", sum(PER_ROUTE.values()) - 1,
                     sum(want.values()))
            results = {}
            for title, ref, expr in queries:
                results.setdefault(title, {})[ref] = prom.query(substitute(expr, window), at)

            def one(title):
                try:
                    EXPECT[title](results[title], seconds)
                except TestFailure as e:
                    raise TestFailure(f"panel {title!r}: {e}")
            each(sorted(results), one)
            _check_variables(prom, dash, at)
            _check_recorded(prom, sent)
        finally:
            if held:
                held.close()
            prom.close()
