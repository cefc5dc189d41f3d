"""The Prometheus artefacts of deploy/prometheus/: promtool's verdict on the
configuration, the rules and the rules' unit tests (each alert shown firing
and staying quiet), runbook links that lead somewhere, and a guard that every
metric name the rules and the Grafana dashboard query is one the agent
exports, on the endpoint they read, under known traffic.
"""

import glob
import json
import os
import re
import subprocess

import yaml

from selftests.lib.checks import TestFailure, check, check_eq, each
from selftests.lib.client import drive
from selftests.lib.needs import needs
from selftests.lib.procs import REPO, Procs
from selftests.lib.promql import selectors
from selftests.lib.scrape import scrape_metrics, scrape_until

PROM_DIR = os.path.join(REPO, "deploy", "prometheus")
CONFIG = os.path.join(PROM_DIR, "prometheus.yml")
RULE_TESTS = sorted(glob.glob(os.path.join(PROM_DIR, "tests", "*.yml")))
DASHBOARDS = sorted(glob.glob(os.path.join(REPO, "deploy", "grafana", "*.json")))
DEPLOY_DOC = os.path.join(REPO, "docs", "deploy.md")

OTEL, PLUGIN = "/metrics/otel", "/metrics"
# The endpoint whose names each rule group reads. The otel_agent_* series are
# on both; the alerts read the seed's job, metasheet-dev (/metrics/otel).
GROUP_ENDPOINTS = {
    "otel-agent-http-otel": (OTEL,),
    "otel-agent-http-plugin": (PLUGIN,),
    "otel-agent-health": (OTEL, PLUGIN),
    "otel-agent-alerts": (OTEL,),
}
# Series Prometheus makes itself, and the labels it puts on every scraped one.
SYNTHETIC = {"up"}
TARGET_LABELS = {"job", "instance"}
# Grafana's variables, as a dashboard test substitutes them: a job, a service,
# a window.
GRAFANA_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")

# Traffic that gives every label the rules match on a value: a 500
# (error_type, errorType), a 404, bodies (--body-sizes).
MIX = ([("GET", "/hello", None, "/hello", "200")] * 3
       + [("GET", "/boom", None, "/boom", "500")] * 2
       + [("PUT", "/items/7", b"x", "/items/{id}", "200")] * 2
       + [("GET", "/nope", None, "/nope", "404")])


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def config():
    return load_yaml(CONFIG)


def rule_files():
    """The rule files prometheus.yml loads (absolute paths)."""
    return [os.path.join(PROM_DIR, f) for f in config().get("rule_files", [])]


def rule_groups():
    """[(file, group)] of every rule group prometheus.yml loads."""
    return [(f, g) for f in rule_files() for g in load_yaml(f).get("groups", [])]


def promtool(*args):
    """Runs promtool in deploy/prometheus; fails with its output unless it exits 0."""
    r = subprocess.run(["promtool"] + list(args), cwd=PROM_DIR, capture_output=True,
                       timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    if r.returncode != 0:
        lines = out.splitlines()
        raise TestFailure(f"promtool {' '.join(args)}: want exit 0 got {r.returncode}:\n"
                          + "\n".join(lines[-40:]))
    return out


def grafana_exprs(path):
    """[(panel title, refId, expr)] of every query of a dashboard, rows' too."""
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title"), t.get("refId"), t.get("expr", "")))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    return out


# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------


@needs("promtool")
def test_prometheus_config():
    """promtool check config accepts deploy/prometheus/prometheus.yml (and the
    rule files it loads); its seed job scrapes the agent's /metrics/otel on
    9464, and every other YAML file there is loaded, so none goes unchecked."""
    promtool("check", "config", CONFIG)
    jobs = {j["job_name"]: j for j in config()["scrape_configs"]}
    seed = jobs.get("metasheet-dev", {})
    check_eq("job metasheet-dev metrics_path", OTEL, seed.get("metrics_path"))
    targets = [t for sc in seed.get("static_configs", []) for t in sc.get("targets", [])]
    check(targets and all(t.endswith(":9464") for t in targets),
          f"job metasheet-dev targets: want the agent's port 9464 got {targets}")
    loaded = set(rule_files())
    stray = [f for f in glob.glob(os.path.join(PROM_DIR, "*.yml"))
             if f != CONFIG and f not in loaded]
    check_eq("rule files in deploy/prometheus/ that prometheus.yml does not load", [], stray)


@needs("promtool")
def test_prometheus_rules():
    """promtool check rules accepts every rule file; every alert has a
    severity and a runbook link to a heading of docs/deploy.md."""
    promtool("check", "rules", *rule_files())
    with open(DEPLOY_DOC) as f:
        anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                   for line in f if line.startswith("#")}

    def one(rule):
        name = rule["alert"]
        check(rule.get("labels", {}).get("severity") in ("warning", "critical"),
              f"{name}: want severity warning or critical got {rule.get('labels')}")
        link = rule.get("annotations", {}).get("runbook", "")
        check(link.startswith("docs/deploy.md#") and link.split("#", 1)[1] in anchors,
              f"{name}: runbook {link!r}: want docs/deploy.md#<a heading there>")
    each([r for _, g in rule_groups() for r in g["rules"] if "alert" in r], one)


@needs("promtool")
def test_prometheus_rules_unit():
    """promtool test rules passes deploy/prometheus/tests/, and those tests show
    every alert both firing and staying quiet."""
    check(RULE_TESTS, "deploy/prometheus/tests/*.yml: want rule unit tests got none")
    promtool("test", "rules", *RULE_TESTS)
    fires, quiet = set(), set()
    for path in RULE_TESTS:
        for t in load_yaml(path).get("tests", []):
            for a in t.get("alert_rule_test", []):
                (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    alerts = {r["alert"] for _, g in rule_groups() for r in g["rules"] if "alert" in r}
    check_eq("alerts no unit test shows firing", set(), alerts - fires)
    check_eq("alerts no unit test shows quiet", set(), alerts - quiet)


def _check_selector(where, name, matchers, endpoints, exported, recorded, jobs):
    """name (with its label matchers) is a recorded rule, a series Prometheus
    makes, or a sample every endpoint exports with each matched label."""
    for label, (op, value) in matchers.items():
        if label == "job" and op == "=":
            check(value in jobs, f"{where}: job {value!r} is no job of prometheus.yml {jobs}")
    if ":" in name:
        check(name in recorded, f"{where}: {name} is recorded by no rule")
        return
    if name in SYNTHETIC:
        return
    for ep in endpoints:
        samples = exported[ep].get(name)
        check(samples, f"{where}: {name} is not exported on {ep}")
        have = set().union(*(labels for labels, _ in samples)) | TARGET_LABELS
        missing = sorted(set(matchers) - have)
        check(not missing, f"{where}: {name} on {ep} has no label {missing}")


@needs("root", "node")
def test_deploy_metric_names_exported():
    """Every metric name (and matched label) in deploy/prometheus/ rules and
    deploy/grafana/ dashboards is exported by the agent on the endpoint it
    reads, under known traffic with --body-sizes."""
    groups = rule_groups()
    check_eq("rule groups with no endpoint in GROUP_ENDPOINTS", [],
             [g["name"] for _, g in groups if g["name"] not in GROUP_ENDPOINTS])
    recorded = {r["record"] for _, g in groups for r in g["rules"] if "record" in r}
    jobs = {j["job_name"] for j in config()["scrape_configs"]}
    with Procs() as procs:
        _, port, _, base = procs.traced("node", extra=["--body-sizes"])
        drive(port, MIX)
        scrape_until(base, len(MIX))
        exported = {OTEL: scrape_metrics(base, OTEL), PLUGIN: scrape_metrics(base, PLUGIN)}
    uses = []
    for path, g in groups:
        for r in g["rules"]:
            where = f"{os.path.basename(path)} {r.get('record') or r.get('alert')}"
            uses += [(where, n, m, GROUP_ENDPOINTS[g["name"]]) for n, m in selectors(r["expr"])]
    check(DASHBOARDS, "deploy/grafana/*.json: want a dashboard got none")
    for path in DASHBOARDS:
        for title, ref, expr in grafana_exprs(path):
            expr = GRAFANA_VAR.sub("5m", expr)  # any value: names are what counts here
            where = f"{os.path.basename(path)} {title!r} {ref}"
            uses += [(where, n, m, (OTEL,)) for n, m in selectors(expr)]
    print(f"{len(uses)} selectors, {len({u[1] for u in uses})} names")
    each(uses, lambda u: _check_selector(u[0], u[1], u[2], u[3], exported, recorded, jobs))
