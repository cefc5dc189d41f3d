"""Reading the agent's endpoints: GET, the Prometheus text parser, sums over
series, and promtool's verdict."""

import http.client
import subprocess
import time
import urllib.error
import urllib.request

from .checks import TestFailure, check, check_eq

SETTLE_TIMEOUT_S = 2.0


def scrape(url, timeout=3.0):
    """GET url -> (status, content_type, body); (None, '', error) if unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        return None, "", str(e)


def scrape_metrics(base, path="/metrics"):
    """GET base + path, which must answer 200 -> parse_prom of the body."""
    # 10 s: parallel tests on a loaded 2-CPU machine once kept a scrape past 3 s
    status, _, body = scrape(base + path, timeout=10.0)
    check_eq(f"GET {path} status{'' if status else f' ({body})'}", 200, status)
    return parse_prom(body)


def snapshot(base):
    """{'otel': metrics, 'plugin': metrics} scraped now."""
    return {"otel": scrape_metrics(base, "/metrics/otel"), "plugin": scrape_metrics(base)}


def _parse_labels(s, i):
    """Parse '{a="x",b="y"}' starting at s[i] == '{'. Returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        while s[i] in " ,":
            i += 1
        if s[i] == "}":
            return labels, i + 1
        eq = s.index("=", i)
        name = s[i:eq].strip()
        if s[eq + 1] != '"':
            raise ValueError(f"label {name}: value not quoted")
        j, val = eq + 2, []
        while s[j] != '"':
            if s[j] == "\\":
                j += 1
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(s[j], "\\" + s[j]))
            else:
                val.append(s[j])
            j += 1
        labels[name] = "".join(val)
        i = j + 1


def parse_prom(text):
    """Prometheus text -> {sample name: [(labels dict, float value), ...]}."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            brace = line.find("{")
            space = line.find(" ")
            if brace != -1 and (space == -1 or brace < space):
                name = line[:brace]
                labels, end = _parse_labels(line, brace)
                rest = line[end:].split()
            else:
                name, rest, labels = line[:space], line[space:].split(), {}
            value = float(rest[0])
        except (ValueError, IndexError) as e:
            raise TestFailure(f"parse line {lineno}: want sample got {line[:60]!r} ({e})")
        out.setdefault(name, []).append((labels, value))
    return out


def series(metrics, name, keys, where=None):
    """Sum samples of `name` grouped by the tuple of label values `keys`."""
    out = {}
    for labels, value in metrics.get(name, []):
        if where and any(labels.get(k) != v for k, v in where.items()):
            continue
        key = tuple(labels.get(k) for k in keys)
        out[key] = out.get(key, 0) + value
    return out


def total(metrics, name):
    return sum(v for _, v in metrics.get(name, []))


def bucket(metrics, name, where, le):
    """Cumulative count of the `le` bucket summed over samples matching where."""
    n, seen = 0, False
    for labels, value in metrics.get(name, []):
        if all(labels.get(k) == v for k, v in where.items()) and float(labels["le"]) == le:
            n += value
            seen = True
    return n if seen else None


def scrape_until(base, want_total, keys=("otel", "plugin")):
    """Scrape both endpoints until their request totals reach want_total (or
    SETTLE_TIMEOUT_S passes). Returns {'otel': (metrics, body), 'plugin': ...}."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        got = {}
        for key, path, count_name in (
            ("otel", "/metrics/otel", "http_server_request_duration_seconds_count"),
            ("plugin", "/metrics", "http_requests_total"),
        ):
            if key not in keys:
                continue
            status, ctype, body = scrape(base + path)
            check_eq(f"GET {path} status", 200, status)
            check(ctype.startswith("text/plain"),
                  f"GET {path} content-type: want text/plain got {ctype!r}")
            m = parse_prom(body)
            got[key] = (m, body, total(m, count_name))
        if all(v[2] >= want_total for v in got.values()) or time.monotonic() > deadline:
            return {k: (v[0], v[1]) for k, v in got.items()}
        time.sleep(0.1)


def promtool_check(path, body):
    """`promtool check metrics` on body; only /metrics may carry the
    camelCase errorType lint (the old plugin's label name)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                       capture_output=True, timeout=30)
    if r.returncode == 0:
        return
    out = (r.stdout + r.stderr).decode(errors="replace").strip().splitlines()
    camel = [l for l in out if "http_request_errors_total" in l and "camelCase" in l]
    if path == "/metrics" and r.returncode == 3 and out and len(camel) == len(out):
        return
    raise TestFailure(f"promtool check metrics {path}: want exit 0 got {r.returncode}: "
                      f"{out[0] if out else '(no output)'}")
