#!/usr/bin/env python3
"""Verdict of a soak run (tests/soak/run.sh): compares the load generator's
exact counts with the agent's series, checks the agent's drop and error
counters and that its memory stayed flat, prints the table, exits 0 (pass)
or 1 (fail).

Input is the run directory run.sh fills:
  phase1.json, phase2.json         loadgen summaries
  phase1.metrics, phase1.otel      scrapes after phase 1 (+1 s settle)
  final.metrics, final.otel        scrapes after phase 2 (+1 s settle)
  rss.tsv                          "t_s  VmRSS_KiB  cpu_ticks" every 5 s
  scrapes.tsv                      "t_s  endpoint  http_code  seconds" during the load
  maps.tsv                         "map  entries" left in the agent's hash maps at the end
  run.env                          KEY=VALUE facts of the run (ports, pids, settings)
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from selftests.lib.scrape import parse_prom, series, total  # noqa: E402

PLUGIN_KEYS = ("method", "path", "status")
OTEL_KEYS = ("http_request_method", "http_route", "http_response_status_code")
OTEL_COUNT = "http_server_request_duration_seconds_count"


def load(path):
    with open(path) as f:
        return f.read()


def loadgen_counts(summary):
    """{(method, route, status): count} of one loadgen summary."""
    out = {}
    for c in summary["counts"]:
        key = (c["method"], c["route"], c["status"])
        out[key] = out.get(key, 0) + c["count"]
    return out


def add(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def sub(a, b):
    out = {}
    for k in set(a) | set(b):
        v = a.get(k, 0) - b.get(k, 0)
        if v:
            out[k] = v
    return out


def diffs(want, got):
    """['GET /hello 200: want 5 got 4 (-1)', ...] for every key that differs."""
    out = []
    for k in sorted(set(want) | set(got), key=str):
        w, g = want.get(k, 0), got.get(k, 0)
        if w != g:
            out.append(f"{' '.join(str(x) for x in k)}: want {w:g} got {g:g} ({g - w:+g})")
    return out


def loadgen_failed(s):
    return s["failed"] + s["connect_errors"] + s.get("bytes_after_last_response", 0)


def read_tsv(path):
    rows = []
    if os.path.exists(path):
        for line in load(path).splitlines():
            if line.strip() and not line.startswith("#"):
                rows.append(line.split("\t"))
    return rows


def read_rss(path):
    """[(t_s, VmRSS KiB, cpu ticks or None)] of an rss.tsv."""
    return [(float(r[0]), int(r[1]), int(r[2]) if len(r) > 2 and r[2] else None)
            for r in read_tsv(path) if len(r) >= 2 and r[1].isdigit()]


def rss_check(rss, margin_kib, failures):
    """Flat memory: the last sample at most margin_kib above the one at 10 s
    (the first-scrape allocations are done by then). Appends to failures;
    returns the line for the table."""
    if len(rss) < 3:
        failures.append(f"agent RSS: want at least 3 samples got {len(rss)}")
    if not rss:
        return "no samples"
    at10 = next((r for r in rss if r[0] >= 10), rss[-1])
    first, last = rss[0][1], rss[-1][1]
    mx = max(r[1] for r in rss)
    growth = last - at10[1]
    if growth > margin_kib:
        failures.append(f"agent RSS grew {growth} KiB between the {at10[0]:.0f} s sample "
                        f"({at10[1]}) and the last ({last}): margin {margin_kib}")
    return (f"first {first}  at {at10[0]:.0f} s {at10[1]}  max {mx}  last {last}  "
            f"(growth after 10 s: {growth:+d}, margin {margin_kib})")


def cpu_note(rss, hz):
    """'agent CPU: ...' from the samples' cpu ticks, or None."""
    ticks = [r[2] for r in rss if r[2] is not None]
    if len(ticks) < 2:
        return None
    span = rss[-1][0] - rss[0][0]
    return f"agent CPU: {(ticks[-1] - ticks[0]) / hz:.2f} s over {span:.0f} s of samples"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rundir")
    ap.add_argument("--rss-margin-kib", type=int, default=1024)
    args = ap.parse_args()
    d = args.rundir

    env = dict(l.split("=", 1) for l in load(os.path.join(d, "run.env")).splitlines() if "=" in l)
    lg = [json.loads(load(os.path.join(d, f"phase{i}.json"))) for i in (1, 2)]
    scr = {}
    for when in ("phase1", "final"):
        scr[when] = (parse_prom(load(os.path.join(d, f"{when}.metrics"))),
                     parse_prom(load(os.path.join(d, f"{when}.otel"))))

    failures = []
    series_diffs = []
    notes = []

    # -- the load generator's own bookkeeping ---------------------------------
    for i, s in enumerate(lg, 1):
        if not s["balanced"]:
            failures.append(f"loadgen phase {i}: sent {s['sent']} != completed "
                            f"{s['completed']} + failed {s['failed']}")
        if loadgen_failed(s):
            failures.append(f"loadgen phase {i}: {s['failed']} failed requests, "
                            f"{s['connect_errors']} connect errors, "
                            f"{s.get('bytes_after_last_response', 0)} protocol anomalies "
                            f"(first: {s['first_error']}; by route: {s['failures']})")
        if s["unexpected_status"]:
            failures.append(f"loadgen phase {i}: {s['unexpected_status']} responses with "
                            "another status than core.js should give")

    want = {"phase1": loadgen_counts(lg[0])}
    want["final"] = add(want["phase1"], loadgen_counts(lg[1]))
    sent = {"phase1": lg[0]["sent"], "final": lg[0]["sent"] + lg[1]["sent"]}
    completed = {"phase1": lg[0]["completed"], "final": lg[0]["completed"] + lg[1]["completed"]}
    failed_reqs = {"phase1": lg[0]["failed"], "final": lg[0]["failed"] + lg[1]["failed"]}

    # -- exact series comparison, cumulative after each phase ------------------
    got = {}
    for when in ("phase1", "final"):
        plug, otel = scr[when]
        got[when] = {
            "/metrics": series(plug, "http_requests_total", PLUGIN_KEYS),
            "/metrics/otel": series(otel, OTEL_COUNT, OTEL_KEYS),
        }
        tag = "after phase 1" if when == "phase1" else "after phase 2 (cumulative)"
        for ep, g in got[when].items():
            for line in diffs(want[when], g):
                series_diffs.append(line)
                failures.append(f"{ep} {'http_requests_total' if ep == '/metrics' else OTEL_COUNT} "
                                f"{tag}: {line}")
        # /metrics duration histogram _count (no status label) and 5xx errors.
        w_dur, w_err = {}, {}
        for (m, r, s), n in want[when].items():
            w_dur[(m, r)] = w_dur.get((m, r), 0) + n
            if s.startswith("5"):
                w_err[(m, r, s)] = w_err.get((m, r, s), 0) + n
        for line in diffs(w_dur, series(plug, "http_request_duration_seconds_count",
                                        ("method", "path"))):
            failures.append(f"/metrics http_request_duration_seconds_count {tag}: {line}")
        for line in diffs(w_err, series(plug, "http_request_errors_total",
                                        ("method", "path", "errorType"))):
            failures.append(f"/metrics http_request_errors_total {tag}: {line}")
        # Request and response totals of the agent.
        for ep, m in (("/metrics", plug), ("/metrics/otel", otel)):
            for name, w in (("otel_agent_requests_total", sent[when]),
                            ("otel_agent_responses_total", completed[when])):
                g = total(m, name)
                if g != w:
                    failures.append(f"{ep} {name} {tag}: want {w} got {g:g} ({g - w:+g})")
    delta2 = {ep: sub(got["final"][ep], got["phase1"][ep]) for ep in got["final"]}

    # -- drop and error counters (final scrape, /metrics; same on /metrics/otel) --
    plug, otel = scr["final"]
    counters = {}
    for ep, m in (("/metrics", plug), ("/metrics/otel", otel)):
        for name, want_v in (("otel_agent_requests_dropped_total", 0),
                             ("otel_agent_unmatched_responses_total", 0),
                             ("otel_agent_connection_errors_total", failed_reqs["final"])):
            if name not in m:
                failures.append(f"{ep} {name}: want present got missing")
                continue
            g = total(m, name)
            counters.setdefault(name, g)
            if g != want_v:
                failures.append(f"{ep} {name}: want {want_v} got {g:g}")
        mue = series(m, "otel_agent_map_update_errors_total", ("map",))
        if "otel_agent_map_update_errors_total" not in m:
            failures.append(f"{ep} otel_agent_map_update_errors_total: want present got missing")
        for (mp,), v in sorted(mue.items(), key=str):
            counters.setdefault(f"otel_agent_map_update_errors_total{{map=\"{mp}\"}}", v)
            if v:
                failures.append(f"{ep} otel_agent_map_update_errors_total{{map=\"{mp}\"}}: "
                                f"want 0 got {v:g}")
    info = {}
    for name in ("otel_agent_stale_connections_reclaimed_total",
                 "otel_agent_not_http_connections_total",
                 "otel_agent_requests_replaced_total",
                 "otel_agent_paths_truncated_total"):
        if name in plug:
            info[name] = total(plug, name)

    # -- memory -------------------------------------------------------------------
    rss = read_rss(os.path.join(d, "rss.tsv"))
    rss_line = rss_check(rss, args.rss_margin_kib, failures)
    cpu = cpu_note(rss, int(env.get("CLK_TCK", "100")))
    if cpu:
        notes.append(cpu)

    # -- scrapes during the load ---------------------------------------------------
    scrapes = read_tsv(os.path.join(d, "scrapes.tsv"))
    bad = [r for r in scrapes if len(r) < 4 or r[2] != "200"]
    secs = [float(r[3]) for r in scrapes if len(r) >= 4]
    scrape_line = (f"{len(scrapes)} during the load, {len(scrapes) - len(bad)} answered 200, "
                   f"slowest {max(secs) * 1000:.1f} ms" if secs else "none")
    if not scrapes:
        failures.append("scrapes during the load: want some got none")
    for r in bad:
        failures.append(f"scrape during the load at {r[0]} s of {r[1]}: HTTP {r[2]}")

    maps = read_tsv(os.path.join(d, "maps.tsv"))

    # -- the table -------------------------------------------------------------------
    out = []
    p = out.append
    p(f"soak run {env.get('DATE', '?')}: {env.get('AGENT_VERSION', '?')}, kernel "
      f"{env.get('KERNEL', '?')}, {env.get('NPROC', '?')} CPUs; node (pid "
      f"{env.get('CORE_PID', '?')}) on CPU 1, loadgen on CPU 0, agent unpinned")
    p(f"machine at start: load average {env.get('LOADAVG', '?')}, "
      f"{env.get('OTHER_AGENTS', '?')} other otel-agent processes running")
    p("")
    hdr = (f"{'phase':<28} {'s':>5} {'conns':>6} {'opened':>8} {'sent':>9} {'answered':>9} "
           f"{'failed':>6} {'/metrics':>9} {'diff':>5} {'otel':>9} {'diff':>5} {'req/s':>8}")
    p(hdr)
    p("-" * len(hdr))
    rows = []
    for i, s in enumerate(lg, 1):
        name = ("1 new connection/request" if s["requests_per_conn"] == 1
                else f"{i} keep-alive, {s['requests_per_conn']}/conn")
        if i == 1:
            gp = sum(got["phase1"]["/metrics"].values())
            go = sum(got["phase1"]["/metrics/otel"].values())
        else:
            gp = sum(delta2["/metrics"].values())
            go = sum(delta2["/metrics/otel"].values())
        rows.append((name, s["load_s"], s["connections"], s["connections_opened"], s["sent"],
                     s["completed"], s["failed"] + s["connect_errors"], gp, go,
                     s["requests_per_s"]))
    tot = ("total", sum(r[1] for r in rows), max(r[2] for r in rows), sum(r[3] for r in rows),
           sum(r[4] for r in rows), sum(r[5] for r in rows), sum(r[6] for r in rows),
           sum(r[7] for r in rows), sum(r[8] for r in rows),
           sum(r[5] for r in rows) / sum(r[1] for r in rows))
    for r in rows + [tot]:
        p(f"{r[0]:<28} {r[1]:>5.1f} {r[2]:>6} {r[3]:>8} {r[4]:>9} {r[5]:>9} {r[6]:>6} "
          f"{r[7]:>9.0f} {r[7] - r[5]:>+5.0f} {r[8]:>9.0f} {r[8] - r[5]:>+5.0f} {r[9]:>8.0f}")
    p("")
    nseries = len(want["final"])
    p(f"series (method, route, status): {nseries}; series that differ from the loadgen "
      f"(after phase 1, after phase 2, both endpoints): {len(series_diffs)}")
    for k in sorted(want["final"], key=str):
        p(f"  {' '.join(k):<28} loadgen {want['final'][k]:>8}  /metrics "
          f"{got['final']['/metrics'].get(k, 0):>8.0f}  /metrics/otel "
          f"{got['final']['/metrics/otel'].get(k, 0):>8.0f}")
    p("")
    p("agent counters (final scrape):")
    p(f"  otel_agent_requests_total {total(plug, 'otel_agent_requests_total'):.0f} "
      f"(loadgen sent {sent['final']}), otel_agent_responses_total "
      f"{total(plug, 'otel_agent_responses_total'):.0f} (answered {completed['final']})")
    for name, v in counters.items():
        p(f"  {name} {v:g}")
    for name, v in info.items():
        p(f"  {name} {v:g} (information)")
    if maps:
        p("  kernel hash-map entries after the run, every connection closed: "
          + ", ".join(f"{r[0]} {r[1]}" for r in maps if len(r) >= 2))
    p(f"agent RSS (KiB, every 5 s, {len(rss)} samples): {rss_line}")
    p(f"scrapes of /metrics and /metrics/otel every 10 s: {scrape_line}")
    for n in notes:
        p(n)
    p("")
    if failures:
        p(f"RESULT: FAIL ({len(failures)} problems)")
        for f in failures:
            p(f"  - {f}")
    else:
        p("RESULT: PASS (every request counted exactly once on both endpoints, "
          "no drops, no map update errors, memory flat)")
    text = "\n".join(out)
    print(text)
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
