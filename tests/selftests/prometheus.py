"""The exposition as scrapers read it: OpenMetrics content negotiation
checked by a strict parser, and a real Prometheus server
(/usr/bin/prometheus, Debian package prometheus) scraping the agent while a
Node server serves known traffic, queried with PromQL. PROMETHEUS overrides
the server binary.
"""

import decimal
import math
import re
import sys
import tempfile
import time

from selftests.lib.checks import check, check_eq
from selftests.lib.client import drive
from selftests.lib.endpoints import PLUGIN_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, env_without
from selftests.lib.promserver import PROMETHEUS, Prometheus, get
from selftests.lib.scrape import parse_prom, scrape_until, series

# What Prometheus 2.x sends when it scrapes: it prefers OpenMetrics.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                     "application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
CT_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CT_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"

OTEL_COUNT = "http_server_request_duration_seconds_count"
OTEL_BUCKET = "http_server_request_duration_seconds_bucket"

# The target's resource: escapes as OTEL_RESOURCE_ATTRIBUTES has them.
RESOURCE_ATTRS = "service.name=core-prom,deployment.environment=self%20test,team%3Dkey=a%2Cb"

# ---------------------------------------------------------------------------
# A strict OpenMetrics 1.0.0 text parser.
# ---------------------------------------------------------------------------

OM_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "info": ("_info",),
    "stateset": ("",),
    "summary": ("", "_count", "_sum", "_created"),
    "unknown": ("",),
}
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
OM_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|[0-9]*\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                       r"|[+-]?(?i:inf|infinity)|(?i:nan)")


def om_canonical(v):
    """OpenMetrics' canonical number for le: Go's %g of the shortest
    round-trip digits, '.0' added when it would read as an integer."""
    if v == math.inf:
        return "+Inf"
    sign, digits, exp = decimal.Decimal(repr(v)).normalize().as_tuple()
    digits = "".join(map(str, digits)) or "0"
    x = len(digits) + exp - 1  # v = d.ddd * 10**x
    if x < -4 or x >= 6:
        s = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + f"e{x:+03d}"
    else:
        s = f"{v:.{max(0, len(digits) - 1 - x)}f}"
    if "." not in s and "e" not in s:
        s += ".0"
    return ("-" if sign else "") + s


def _om_labels(line, i, where):
    """Labels from line[i] == '{'; only \\\\, \\" and \\n escapes. -> (dict, index after '}')."""
    labels = {}
    i += 1
    if line[i] == "}":
        return labels, i + 1
    while True:
        m = LABEL_NAME.match(line, i)
        check(m, f"{where}: want a label name at column {i} got {line[i:i + 20]!r}")
        name = m.group(0)
        i = m.end()
        check(line.startswith('="', i), f"{where}: want =\" after label {name}")
        i += 2
        val = []
        while line[i] != '"':
            if line[i] == "\\":
                esc = line[i + 1]
                check(esc in 'n"\\', f"{where}: label {name}: undefined escape \\{esc}")
                val.append("\n" if esc == "n" else esc)
                i += 2
            else:
                val.append(line[i])
                i += 1
        check(name not in labels, f"{where}: label {name} twice")
        labels[name] = "".join(val)
        i += 1
        if line[i] == "}":
            return labels, i + 1
        check(line[i] == ",", f"{where}: want , or }} after label {name} got {line[i]!r}")
        i += 1


def parse_openmetrics(body):
    """Strict OpenMetrics 1.0.0 text -> {family: {"type", "unit", "help", "samples":
    [(sample name, labels, value)]}}. Raises TestFailure on any rule broken."""
    check(body.endswith("# EOF\n"), f"OpenMetrics: want last line '# EOF' got {body[-30:]!r}")
    check("\r" not in body, "OpenMetrics: want LF line ends got a CR")
    lines = body[:-len("# EOF\n")].split("\n")
    check(lines[-1] == "", "OpenMetrics: want a line feed before '# EOF'")
    fams, fam, seen_meta, samples_started = {}, None, set(), False
    left = set()  # (family, label set) whose samples are over: no interleaving
    current_key = None
    for lineno, line in enumerate(lines[:-1], 1):
        where = f"OpenMetrics line {lineno} {line[:50]!r}"
        check(line, f"{where}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            check(len(parts) >= 3 and parts[0] == "#" and parts[1] in ("TYPE", "UNIT", "HELP"),
                  f"{where}: want # TYPE, # UNIT or # HELP")
            kind, name = parts[1], parts[2]
            check(METRIC_NAME.fullmatch(name), f"{where}: bad family name")
            if name != fam:
                check(name not in fams, f"{where}: family {name} again after other families")
                fam, seen_meta, samples_started = name, set(), False
                fams[name] = {"type": "unknown", "unit": "", "help": "", "samples": []}
            check(not samples_started, f"{where}: metadata after the family's samples")
            check(kind not in seen_meta, f"{where}: two {kind} lines")
            seen_meta.add(kind)
            arg = parts[3] if len(parts) == 4 else ""
            if kind == "TYPE":
                check(arg in OM_SUFFIXES, f"{where}: unknown type {arg!r}")
                check("UNIT" not in seen_meta and "HELP" not in seen_meta,
                      f"{where}: want TYPE before UNIT and HELP")
                fams[name]["type"] = arg
            elif kind == "UNIT":
                check(not arg or name.endswith("_" + arg),
                      f"{where}: unit {arg!r} is not the suffix of {name}")
                check(fams[name]["type"] not in ("info", "stateset") or not arg,
                      f"{where}: an {fams[name]['type']} has no unit")
                check("HELP" not in seen_meta, f"{where}: want UNIT before HELP")
                fams[name]["unit"] = arg
            else:
                fams[name]["help"] = arg
            continue
        brace, space = line.find("{"), line.find(" ")
        if brace != -1 and brace < space:
            name = line[:brace]
            labels, end = _om_labels(line, brace, where)
            rest = line[end:]
        else:
            name, labels, rest = line[:space], {}, line[space:]
        check(METRIC_NAME.fullmatch(name), f"{where}: bad sample name")
        check(rest.startswith(" ") and OM_NUMBER.fullmatch(rest[1:]),
              f"{where}: want ' <number>' (no timestamp) after the labels got {rest!r}")
        value = float(rest[1:])
        check(fam is not None and any(name == fam + s for s in OM_SUFFIXES[fams[fam]["type"]]),
              f"{where}: sample {name} outside its family {fam}")
        samples_started = True
        key = (fam, tuple(sorted((k, v) for k, v in labels.items() if k != "le")))
        if key != current_key:
            check(key not in left, f"{where}: metric {key} interleaved with another")
            if current_key:
                left.add(current_key)
            current_key = key
        fams[fam]["samples"].append((name, labels, value))
    for name, f in fams.items():
        _check_om_family(name, f)
    return fams


def _check_om_family(name, f):
    typ, seen = f["type"], set()
    hist = {}
    for sname, labels, value in f["samples"]:
        ident = (sname, tuple(sorted(labels.items())))
        check(ident not in seen, f"OpenMetrics {name}: sample {ident} twice")
        seen.add(ident)
        if typ == "counter" and sname.endswith("_total"):
            check(value >= 0 and not math.isnan(value), f"OpenMetrics {sname}: negative total")
        if typ == "info":
            check_eq(f"OpenMetrics {sname} value", 1, value)
        if typ == "histogram":
            check(("le" in labels) == sname.endswith("_bucket"),
                  f"OpenMetrics {sname}: le only on buckets")
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            h = hist.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if sname.endswith("_bucket"):
                le = labels["le"]
                check_eq(f"OpenMetrics {name} le canonical", om_canonical(float(le)), le)
                check(value == int(value), f"OpenMetrics {sname}: bucket not an integer")
                h["buckets"].append((float(le), value))
            elif sname.endswith("_count"):
                check(value == int(value), f"OpenMetrics {sname}: count not an integer")
                h["count"] = value
            elif sname.endswith("_sum"):
                h["sum"] = value
    for key, h in hist.items():
        les = [le for le, _ in h["buckets"]]
        check(les == sorted(les) and les and les[-1] == math.inf,
              f"OpenMetrics {name}{dict(key)}: want ascending le ending +Inf got {les}")
        vals = [v for _, v in h["buckets"]]
        check(vals == sorted(vals), f"OpenMetrics {name}{dict(key)}: buckets not cumulative")
        check_eq(f"OpenMetrics {name}{dict(key)} +Inf vs _count", vals[-1], h["count"])
        check(h["sum"] is not None and h["sum"] >= 0, f"OpenMetrics {name}{dict(key)}: no _sum")


def om_samples(fams, fam, sample):
    """[(labels, value)] of one sample name of a family, from parse_openmetrics."""
    return [(labels, v) for s, labels, v in fams.get(fam, {}).get("samples", []) if s == sample]


# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------


@needs("root", "node")
def test_openmetrics_negotiation():
    """Prometheus' Accept gets OpenMetrics on /metrics/otel, strictly valid and
    equal to the text; /metrics stays text; gzip with both; target_info resource."""
    with Procs() as procs:
        srv, port = procs.server("node", env=env_without(
            "OTEL_SERVICE_NAME", OTEL_RESOURCE_ATTRIBUTES=RESOURCE_ATTRS))
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"],
                                 env=env_without("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"))
        mix = ([("GET", "/hello", None, "/hello", "200")] * 3
               + [("GET", "/boom", None, "/boom", "500")] * 2
               + [("PUT", "/items/3", b"x", "/items/{id}", "200")] * 2)
        want = drive(port, mix)
        text = scrape_until(base, len(mix), keys=("otel",))["otel"][0]

        for gz in (False, True):
            _, headers, body = get(base + "/metrics/otel", PROMETHEUS_ACCEPT, gzip_ok=gz)
            check_eq(f"/metrics/otel Content-Type for Prometheus' Accept (gzip {gz})",
                     CT_OPENMETRICS, headers.get("Content-Type"))
            check_eq(f"/metrics/otel Content-Encoding (gzip {gz})", "gzip" if gz else None,
                     headers.get("Content-Encoding"))
            check("Accept" in (headers.get("Vary") or ""),
                  f"/metrics/otel Vary: want Accept got {headers.get('Vary')!r}")
            fams = parse_openmetrics(body)

        # The same numbers as the text, under OpenMetrics' names.
        check_eq("OpenMetrics http_server_request_duration_seconds type", "histogram",
                 fams["http_server_request_duration_seconds"]["type"])
        check_eq("OpenMetrics http_server_request_duration_seconds unit", "seconds",
                 fams["http_server_request_duration_seconds"]["unit"])
        check_eq("OpenMetrics otel_agent_requests type", "counter",
                 fams.get("otel_agent_requests", {}).get("type"))
        check_eq("OpenMetrics target type", "info", fams.get("target", {}).get("type"))
        check_eq("OpenMetrics first family", "target", next(iter(fams)))
        keys = ("http_request_method", "http_route", "http_response_status_code")
        got = {}
        for labels, v in om_samples(fams, "http_server_request_duration_seconds", OTEL_COUNT):
            k = tuple(labels.get(x) for x in keys)
            got[k] = got.get(k, 0) + v
        check_eq("OpenMetrics _count by method, route, status", want, got)
        check_eq("OpenMetrics _count vs text", series(text, OTEL_COUNT, keys), got)
        check_eq("OpenMetrics otel_agent_requests_total vs text",
                 [v for _, v in text["otel_agent_requests_total"]],
                 [v for _, v in om_samples(fams, "otel_agent_requests",
                                           "otel_agent_requests_total")])

        # Scope labels on the OpenTelemetry family only.
        for labels, _ in om_samples(fams, "http_server_request_duration_seconds", OTEL_COUNT):
            check_eq("otel_scope_name", "otel-agent", labels.get("otel_scope_name"))
            check(labels.get("otel_scope_version"), f"otel_scope_version: want set got {labels}")
        for labels, _ in text.get("target_info", []) + text.get("otel_agent_build_info", []):
            check("otel_scope_name" not in labels, f"scope label on {labels}: want none")

        # target_info: the target's OTEL_RESOURCE_ATTRIBUTES, decoded, and what the agent finds.
        tinfo = [labels for labels, _ in om_samples(fams, "target", "target_info")]
        check_eq("target_info samples", 1, len(tinfo))
        t = tinfo[0]
        for name, value in (("service_name", "core-prom"), ("process_pid", str(srv.pid)),
                            ("deployment_environment", "self test"), ("team_key", "a,b"),
                            ("process_executable_name", "node"), ("process_command", "node")):
            check_eq(f"target_info {name}", value, t.get(name))
        iid = t.get("service_instance_id", "")
        check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                           iid), f"target_info service_instance_id: want a UUID v5 got {iid!r}")
        check(t.get("host_name"), "target_info host_name: want set got none")
        again = parse_openmetrics(get(base + "/metrics/otel", PROMETHEUS_ACCEPT)[2])
        check_eq("service_instance_id on the next scrape", t["service_instance_id"],
                 om_samples(again, "target", "target_info")[0][0].get("service_instance_id"))

        # /metrics: Prometheus text whatever is asked, as the plugin served it.
        for gz in (False, True):
            _, headers, body = get(base + "/metrics", PROMETHEUS_ACCEPT, gzip_ok=gz)
            check_eq(f"/metrics Content-Type for Prometheus' Accept (gzip {gz})", CT_PROMETHEUS,
                     headers.get("Content-Type"))
            check("# EOF" not in body and "# UNIT" not in body,
                  "/metrics: want Prometheus text got OpenMetrics lines")
            check_eq("/metrics http_requests_total", want,
                     series(parse_prom(body), "http_requests_total", PLUGIN_KEYS))


# Sent twice: the second batch is what rate() sees. Being the same mix, each
# series' first value in the window is proportional to its increase, so
# rate()'s extrapolation scales every series alike and ratios are exact.
PROM_MIX = ([("GET", "/hello", None, "/hello", "200")] * 20
            + [("GET", "/slow", None, "/slow", "200")] * 5
            + [("GET", "/boom", None, "/boom", "500")] * 5
            + [("PUT", "/items/7", b"x", "/items/{id}", "200")] * 10
            + [("GET", "/nope", None, "/nope", "404")] * 5)


@needs("root", "node", PROMETHEUS)
def test_prometheus_server():
    """A real Prometheus scrapes /metrics/otel (OpenMetrics); PromQL over known traffic:
    rate, median by route, error ratio, up, target_info."""
    with tempfile.TemporaryDirectory(prefix="oa-prom-") as tmp, Procs() as procs:
        srv, port = procs.server("node", env=env_without(
            "OTEL_SERVICE_NAME", OTEL_RESOURCE_ATTRIBUTES=RESOURCE_ATTRS))
        _, base, _ = procs.agent([srv.pid], ["--feature-otel=true"],
                                 env=env_without("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"))
        prom = Prometheus(procs, tmp, base)
        try:
            _query_known_traffic(prom, srv, port)
        finally:
            prom.close()


# A target that forwards each GET to an upstream server and answers with its status.
FORWARDER = r'''
import http.client, http.server, sys
up = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        c = http.client.HTTPConnection("127.0.0.1", up)
        c.request("GET", self.path)
        r = c.getresponse()
        r.read()
        c.close()
        self.send_response(r.status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
'''


@needs("root", "node", PROMETHEUS)
def test_prometheus_client_duration():
    """PromQL over a target's own outgoing requests: rate and median client
    duration by server_address, and the client error ratio."""
    with tempfile.TemporaryDirectory(prefix="oa-prom-") as tmp, Procs() as procs:
        up, upport = procs.server("node")  # the upstream: not a target
        fwd, port = procs.listening([sys.executable, "-c", FORWARDER, str(upport)], "forwarder")
        _, base, _ = procs.agent([fwd.pid], ["--feature-otel=true"])
        prom = Prometheus(procs, tmp, base)
        try:
            mix = ([("GET", "/slow", None, "/slow", "200")] * 10
                   + [("GET", "/boom", None, "/boom", "500")] * 5
                   + [("GET", "/nope", None, "/nope", "404")] * 5)
            prom.scrape_after(0, deadline_s=15)
            drive(port, mix)
            s1 = prom.scrape_after(time.time())
            drive(port, mix)
            prom.scrape_after(time.time())
            at = prom.scrape_after(prom.last_scrape())
            window = f"[{int((at - s1 + 0.3) * 1000)}ms]"
            seconds = at - s1 + 0.3
            client = "http_client_request_duration_seconds"
            rates = {l.get("server_address"): v for l, v in prom.query(
                f"sum by (server_address) (rate({client}_count{window}))", at)}
            r = rates.get("127.0.0.1", 0)
            check(0.5 * 20 <= r * seconds <= 2 * 20,
                  f"client rate to 127.0.0.1: want about {20 / seconds:.2f}/s got {r:.3f}/s "
                  f"(all: {rates})")
            q50 = prom.query(f'histogram_quantile(0.5, sum by (le, server_address) '
                             f'(rate({client}_bucket{{http_response_status_code="200"}}'
                             f'{window})))', at)
            check(q50 and 0.05 <= q50[0][1] <= 0.1,
                  f"median client duration of /slow: want 0.05..0.1 s got {q50}")
            check_eq("median client duration server_address", "127.0.0.1",
                     q50[0][0].get("server_address") if q50 else None)
            # for a client, 4xx and 5xx are both errors: 10 of 20
            ratio = prom.query(f'sum(rate({client}_count{{error_type!=""}}{window})) / '
                               f'sum(rate({client}_count{window}))', at)
            check(ratio and abs(ratio[0][1] - 0.5) < 1e-3,
                  f"client error ratio: want 0.5 got {ratio[0][1] if ratio else None}")
        finally:
            prom.close()


def _query_known_traffic(prom, srv, port):
    """PROM_MIX twice, then PromQL at the last scrape, over a window from just
    before the first scrape that holds all of the first batch."""
    prom.scrape_after(0, deadline_s=15)

    drive(port, PROM_MIX)
    s1 = prom.scrape_after(time.time())  # holds all of the first batch
    want = drive(port, PROM_MIX)
    prom.scrape_after(time.time())
    at = prom.scrape_after(prom.last_scrape())  # one more: the end of the window
    # From just before s1 (the scrape before it is a second earlier) to the last scrape.
    window = f"[{int((at - s1 + 0.3) * 1000)}ms]"
    seconds = at - s1 + 0.3

    up = prom.query('up{job="otel-agent"}', at)
    check_eq(f"up (a parse error marks it 0; {prom.log_tail()})", [1.0],
             [v for _, v in up])
    targets = prom.api("targets")["activeTargets"]
    check_eq("prometheus target lastError", "", targets[0].get("lastError"))

    # Prometheus parsed OpenMetrics: only that format carries units and counter families.
    meta = prom.api("targets/metadata", match_target='{job="otel-agent"}')
    units = {m["metric"]: m.get("unit", "") for m in meta}
    check_eq("metadata unit of http_server_request_duration_seconds", "seconds",
             units.get("http_server_request_duration_seconds"))
    check("otel_agent_requests" in units,
          f"metadata: want counter family otel_agent_requests got {sorted(units)[:5]}")

    # rate(): non-zero, and over the window about what was sent.
    rates = {l.get("http_route"): v for l, v in prom.query(
        f"sum by (http_route) (rate({OTEL_COUNT}{window}))", at)}
    for route, n in (("/hello", 20), ("/slow", 5), ("/boom", 5), ("/items/{id}", 10),
                     ("/nope", 5)):
        r = rates.get(route, 0)
        check(0.5 * n <= r * seconds <= 2 * n,
              f"rate {route} over {window}: want about {n / seconds:.2f}/s "
              f"got {r:.3f}/s")

    # Median by route: /slow waits 60 ms, /hello answers at once.
    q50 = {l.get("http_route"): v for l, v in prom.query(
        f"histogram_quantile(0.5, sum by (le, http_route) (rate({OTEL_BUCKET}{window})))", at)}
    check(0.05 <= q50.get("/slow", -1) <= 0.1,
          f"median /slow: want 0.05..0.1 s got {q50.get('/slow')}")
    check(0 < q50.get("/hello", -1) <= 0.005,
          f"median /hello: want under 0.005 s got {q50.get('/hello')}")

    # The error ratio, as sent.
    ratio = prom.query(f'sum(rate({OTEL_COUNT}{{error_type="500"}}{window})) / '
                       f'sum(rate({OTEL_COUNT}{window}))', at)
    sent = sum(n for (_, _, s), n in want.items() if s == "500") / sum(want.values())
    check(ratio and abs(ratio[0][1] - sent) < 1e-3,
          f"error ratio: want {sent:.4f} got {ratio[0][1] if ratio else None}")

    # target_info with the target's service name and attributes.
    tinfo = prom.query('target_info{service_name="core-prom"}', at)
    check_eq('target_info{service_name="core-prom"} samples', 1, len(tinfo))
    labels = tinfo[0][0]
    check_eq("target_info process_pid", str(srv.pid), labels.get("process_pid"))
    check_eq("target_info deployment_environment", "self test",
             labels.get("deployment_environment"))
    check(labels.get("service_instance_id"), "target_info service_instance_id: want set")
