"""A real Prometheus server (/usr/bin/prometheus, Debian package prometheus)
scraping agents in a selftest, and GET with the headers a scraper sends.
PROMETHEUS overrides the server binary."""

import gzip
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .checks import check, check_eq
from .procs import free_port

PROMETHEUS = os.environ.get("PROMETHEUS") or "/usr/bin/prometheus"


def get(url, accept=None, gzip_ok=False, timeout=5):
    """GET -> (status, headers, body text)."""
    headers = {}
    if accept:
        headers["Accept"] = accept
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return r.status, r.headers, data.decode()


def one_job_config(agent_base, job="otel-agent", path="/metrics/otel"):
    """A configuration scraping agent_base's path every second as job."""
    target = urllib.parse.urlparse(agent_base).netloc
    return ("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: {job}\n"
            f"    metrics_path: {path}\n"
            f"    static_configs:\n      - targets: ['{target}']\n")


class Prometheus:
    """A Prometheus server scraping one agent: by default its /metrics/otel
    every second as job otel-agent; config (the text of prometheus.yml)
    replaces that, job names the job whose scrapes last_scrape follows.
    Procs stops it; close() closes its log (in tmp, removed with it)."""

    def __init__(self, procs, tmp, agent_base=None, config=None, job="otel-agent"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.job = job
        self.config = os.path.join(tmp, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(config if config is not None else one_job_config(agent_base, job))
        self.log = open(os.path.join(tmp, "prometheus.log"), "w+")
        self.proc = procs.spawn([PROMETHEUS, f"--config.file={self.config}",
                                 f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                                 f"--web.listen-address=127.0.0.1:{self.port}",
                                 "--log.level=warn"],
                                stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            check(self.proc.poll() is None,
                  f"prometheus exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if get(self.base + "/-/ready", timeout=1)[0] == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            check(time.monotonic() < deadline, "prometheus /-/ready within 20s: want 200")
            time.sleep(0.2)

    def close(self):
        self.log.close()

    def log_tail(self):
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        return lines[-1] if lines else "(no log)"

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        body = json.loads(get(url)[2])
        check_eq(f"prometheus {path} {params} status", "success", body.get("status"))
        return body["data"]

    def query(self, q, at=None):
        """Instant query -> [(labels, float value)]."""
        params = {"query": q}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        check_eq(f"{q} result type", "vector", data["resultType"])
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def last_scrape(self):
        """Time of the latest scrape of the agent by the job (the timestamp of
        its up sample), or 0."""
        r = self.query(f'timestamp(up{{job="{self.job}"}})')
        return r[0][1] if r else 0.0

    def scrape_after(self, t, deadline_s=10):
        """Waits for a scrape that started after t; returns its time."""
        deadline = time.monotonic() + deadline_s
        while True:
            s = self.last_scrape()
            if s > t:
                return s
            check(time.monotonic() < deadline,
                  f"prometheus scrape after {t:.3f} within {deadline_s}s: want one got "
                  f"last at {s:.3f} ({self.log_tail()})")
            time.sleep(0.1)
