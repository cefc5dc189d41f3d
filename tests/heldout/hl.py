"""Shared helpers for the held-out server runs: start the agent, scrape and
summarise both endpoints, dump the kernel series maps."""

import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from selftests.lib.scrape import parse_prom  # noqa: E402

AGENT = os.environ.get("OTEL_AGENT", os.path.join(ROOT, "otel-agent"))
WORK = "/tmp/hl"  # the scripts' working directory: servers' files, configs and logs
ASSETS = os.path.join(HERE, "assets")


def setup():
    """Lay out WORK from assets/ (once): the servers' code and configuration templates,
    Apache/nginx document root, and express installed with npm."""
    import shutil
    for d in ("express", "gapp", "apache/htdocs", "apache/run", "nginx"):
        os.makedirs(os.path.join(WORK, d), exist_ok=True)
    for src, dst in (("upstream.js", "upstream.js"), ("Caddyfile.tmpl", "Caddyfile.tmpl"),
                     ("express_app.js", "express/app.js"), ("gapp/app.py", "gapp/app.py")):
        shutil.copy(os.path.join(ASSETS, src), os.path.join(WORK, dst))
    for src, dst in (("httpd.conf.tmpl", "apache/httpd.conf.tmpl"),
                     ("nginx.conf.tmpl", "nginx/nginx.conf.tmpl")):
        text = open(os.path.join(ASSETS, src)).read().replace("WORK", WORK)
        open(os.path.join(WORK, dst), "w").write(text)
    htdocs = os.path.join(WORK, "apache/htdocs")
    open(os.path.join(htdocs, "index.html"), "w").write("hello\n")
    open(os.path.join(htdocs, "big.txt"), "w").write("0123456789abcdef\n" * 1600)
    if not os.path.isdir(os.path.join(WORK, "express/node_modules/express")):
        subprocess.run(["npm", "install", "--silent", "express"], cwd=os.path.join(WORK, "express"),
                       check=True)


setup()


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def start_agent(args, port, log):
    p = subprocess.Popen([AGENT, "--feature-otel=true", "-l", f"127.0.0.1:{port}", *args],
                         stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            get(f"http://127.0.0.1:{port}/healthz", 1)
            return p
        except OSError:
            time.sleep(0.2)
    raise SystemExit("agent did not come up")


def summary(port):
    base = f"http://127.0.0.1:{port}"
    otel = parse_prom(get(base + "/metrics/otel"))
    plug = parse_prom(get(base + "/metrics"))
    out = {"plugin": {}, "plugin_err": {}, "server": {}, "client": {}, "self": {}}
    for lab, v in plug.get("http_requests_total", []):
        out["plugin"][(lab.get("method"), lab.get("path"), lab.get("status"))] = v
    for lab, v in plug.get("http_request_errors_total", []):
        out["plugin_err"][(lab.get("method"), lab.get("path"), lab.get("errorType"))] = v
    for lab, v in otel.get("http_server_request_duration_seconds_count", []):
        k = (lab.get("http_request_method"), lab.get("http_route"),
             lab.get("http_response_status_code"), lab.get("error_type"))
        out["server"][k] = out["server"].get(k, 0) + v
    for lab, v in otel.get("http_client_request_duration_seconds_count", []):
        k = (lab.get("http_request_method"), lab.get("server_address"), lab.get("server_port"),
             lab.get("http_response_status_code"), lab.get("error_type"))
        out["client"][k] = out["client"].get(k, 0) + v
    for name, samples in otel.items():
        if name.startswith("otel_agent_"):
            for lab, v in samples:
                key = name + ("{" + ",".join(f"{a}={b}" for a, b in lab.items()) + "}" if lab else "")
                out["self"][key] = v
    out["targets"] = [lab.get("process_pid") for lab, _ in otel.get("target_info", [])]
    return out


SELF_KEYS = ("requests_total", "responses_total", "unmatched_responses_total",
             "requests_dropped_total", "connection_errors_total", "series_spilled_total",
             "series_capped_total", "series_overflowed_total", "targets_added_total",
             "targets")


def show(s, f=sys.stdout):
    for sect in ("plugin", "plugin_err", "server", "client"):
        for k, v in sorted(s[sect].items(), key=str):
            print(f"  {sect:10s} {k} {v:g}", file=f)
    print("  self " + " ".join(f"{k.replace('otel_agent_', '')}={v:g}"
                               for k, v in sorted(s["self"].items())
                               if any(k.startswith("otel_agent_" + x) for x in SELF_KEYS)
                               or "map_update" in k), file=f)
    print(f"  target_info pids {s['targets']}", file=f)


def compare(s, counts, failed, answered_only=False):
    """What the clients got (counts by (method, route, status), failed by reason) beside
    the summary s, and whether both endpoints match it; answered_only leaves the
    /metrics/otel series without a status (requests that ended unanswered) out."""
    print("client answered: %d, failed: %s" % (sum(counts.values()), dict(failed)))
    for k, v in sorted(counts.items()):
        print("  client-got", k, v)
    show(s)
    print("/metrics matches client:", s["plugin"] == dict(counts))
    print("/metrics/otel%s matches client:" % (" answered" if answered_only else ""),
          {(m, r, st): v for (m, r, st, e), v in s["server"].items()
           if st or not answered_only} == dict(counts))


def agent_maps(agent_pid, names=("series", "series_spill")):
    """{name: [formatted entries]} of the agent's maps, found through its fds."""
    out = {}
    ids = set()
    for fd in os.listdir(f"/proc/{agent_pid}/fdinfo"):
        try:
            for line in open(f"/proc/{agent_pid}/fdinfo/{fd}"):
                if line.startswith("map_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    for mid in ids:
        r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(mid)], capture_output=True)
        if r.returncode:
            continue
        name = json.loads(r.stdout).get("name")
        if name in names:
            r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(mid)],
                               capture_output=True)
            out[name] = [e.get("formatted", e) for e in json.loads(r.stdout)]
    return out


def tgids_in(entries):
    c = {}
    for e in entries:
        t = e["key"]["tgid"] if isinstance(e, dict) and "key" in e else None
        c[t] = c.get(t, 0) + 1
    return c
