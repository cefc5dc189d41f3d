"""TLS and basic auth on the endpoint (--web.config.file, the Prometheus
exporters' web config): a real Prometheus (/usr/bin/prometheus; PROMETHEUS
overrides it) scrapes the agent over TLS with basic auth, curl without
credentials gets a 401, and a bad config file is a usage error (exit 2)
before anything is loaded. The certificate is made here with openssl, the
bcrypt hash with libcrypt (libxcrypt), as htpasswd -B would.
"""

import ctypes
import json
import os
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from selftests.lib.checks import check, check_eq
from selftests.lib.needs import needs
from selftests.lib.procs import Procs, agent_path, free_port

PROMETHEUS = os.environ.get("PROMETHEUS") or "/usr/bin/prometheus"
USER, PASSWORD = "prom", "s3cret pass"


def _bcrypt(password):
    """A bcrypt hash ($2b$, cost 10) of password, by libcrypt."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$2b$", 10, None, 0)
    check(salt, "crypt_gensalt($2b$): want a salt got none")
    return lib.crypt(password.encode(), salt).decode()


def _web_config(tmp, users=True):
    """A certificate for 127.0.0.1 and a web config serving it -> (config path, cert path)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=otel-agent-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    path = os.path.join(tmp, "web.yml")
    with open(path, "w") as f:
        # relative paths: from the config file's directory
        f.write("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n")
        if users:
            f.write(f"basic_auth_users:\n  {USER}: '{_bcrypt(PASSWORD)}'\n")
    return path, cert


def _curl(url, cacert, *extra):
    """curl -> (HTTP status, body)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cacert,
                        "-w", "\n%{http_code}", *extra, url], capture_output=True, text=True)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def _tls_agent(procs, tmp, web, cacert):
    """An enabled agent on a sleep process serving https with web -> its https base URL."""
    sleeper = procs.spawn(["sleep", "120"])
    port = free_port()
    err = open(os.path.join(tmp, "agent.err"), "w+")
    p = procs.spawn([agent_path(), "--pid", str(sleeper.pid), "--feature-otel=true",
                     "--listen", f"127.0.0.1:{port}", "--web.config.file", web],
                    stdout=subprocess.DEVNULL, stderr=err)
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        if p.poll() is not None:
            err.seek(0)
            check(False, f"agent exited {p.returncode}: {err.read().strip()[-300:]}")
        status, _ = _curl(base + "/healthz", cacert, "-u", f"{USER}:{PASSWORD}")
        if status == 200:
            return base
        check(time.monotonic() < deadline, f"https /healthz within 20 s: want 200 got {status}")
        time.sleep(0.2)


class _Prometheus:
    """A Prometheus scraping base's /metrics/otel every second over TLS with basic auth."""

    def __init__(self, procs, tmp, base, cacert):
        self.base = f"http://127.0.0.1:{free_port()}"
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: otel-agent\n"
                    "    metrics_path: /metrics/otel\n    scheme: https\n"
                    f"    tls_config:\n      ca_file: {cacert}\n"
                    f"    basic_auth:\n      username: {USER}\n      password: '{PASSWORD}'\n"
                    f"    static_configs:\n      - targets: ['{urllib.parse.urlparse(base).netloc}']\n")
        self.log = os.path.join(tmp, "prometheus.log")
        self.proc = procs.spawn([PROMETHEUS, f"--config.file={cfg}",
                                 f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                                 f"--web.listen-address={self.base[len('http://'):]}",
                                 "--log.level=warn"],
                                stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def query(self, q):
        url = f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': q})}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        check_eq(f"prometheus query {q} status", "success", body.get("status"))
        return [(m["metric"], float(m["value"][1])) for m in body["data"]["result"]]

    def wait_up(self, deadline_s=30):
        """Waits until the agent's target is up and scraped with its metrics -> its up sample."""
        deadline = time.monotonic() + deadline_s
        last = None
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"prometheus exited {self.proc.returncode}")
            try:
                up = self.query('up{job="otel-agent"}')
                scraped = self.query('otel_agent_requests_total{job="otel-agent"}')
                last = (up, self.query('scrape_samples_scraped{job="otel-agent"}'))
                if up and up[0][1] == 1 and scraped:
                    return up
            except OSError:
                pass  # not ready yet
            time.sleep(0.3)
        with open(self.log) as f:
            tail = f.read().strip()[-300:]
        check(False, f"prometheus scraping over TLS with basic auth: want up 1 got {last} "
              f"({tail or 'no log'})")


@needs("root", "openssl", "curl", PROMETHEUS)
def test_tls_basic_auth_prometheus():
    """Prometheus scrapes /metrics/otel over TLS with basic auth (up 1, the
    agent's metrics stored); curl without credentials, with a wrong password
    or an unknown user gets a 401 that asks for basic auth; plain HTTP gets
    no answer."""
    with tempfile.TemporaryDirectory(prefix="oa-tls-") as tmp, Procs() as procs:
        web, cacert = _web_config(tmp)
        base = _tls_agent(procs, tmp, web, cacert)
        for what, extra in (("no credentials", ()), ("a wrong password", ("-u", f"{USER}:x")),
                            ("an unknown user", ("-u", f"other:{PASSWORD}"))):
            status, _ = _curl(base + "/metrics/otel", cacert, *extra)
            check_eq(f"GET /metrics/otel with {what}", 401, status)
        status, head = _curl(base + "/healthz", cacert, "-o", "/dev/null", "-D", "-")
        check("www-authenticate: basic" in head.lower(),
              f"401 headers: want WWW-Authenticate: Basic got {head[:200]!r}")
        status, body = _curl(base + "/metrics/otel", cacert, "-u", f"{USER}:{PASSWORD}")
        check(status == 200 and "otel_agent_requests_total" in body,
              f"GET /metrics/otel with the password: want 200 with the metrics got {status}")
        status, _ = _curl(base.replace("https:", "http:") + "/healthz", cacert)
        check(status != 200, f"plain HTTP on the TLS port: want no answer got {status}")
        prom = _Prometheus(procs, tmp, base, cacert)
        up = prom.wait_up()
        print(f"prometheus over TLS with basic auth: up {up}")


@needs("openssl")
def test_web_config_errors():
    """A web config the agent cannot serve is one line on stderr naming the
    problem and exit 2, before anything is loaded."""
    with tempfile.TemporaryDirectory(prefix="oa-tls-") as tmp:
        web, _ = _web_config(tmp, users=False)
        cases = {
            "no key_file": ("tls_server_config:\n  cert_file: cert.pem\n", "needs both"),
            "not bcrypt": ("basic_auth_users:\n  prom: plaintext\n", "not a bcrypt hash"),
            "client certificates": ("tls_server_config:\n  cert_file: cert.pem\n"
                                    "  key_file: key.pem\n  client_auth_type: RequireAnyClientCert\n",
                                    "client_auth_type is not supported"),
            "unknown key": ("http_server_config:\n  http2: false\n", "is not supported"),
            "not YAML": ("tls_server_config: [\n", "not YAML"),
            "missing key file": ("tls_server_config:\n  cert_file: cert.pem\n"
                                 "  key_file: nope.pem\n", "nope.pem"),
            "key as cert": ("tls_server_config:\n  cert_file: key.pem\n  key_file: cert.pem\n",
                            "no PEM certificate"),
        }
        for name, (text, want) in cases.items():
            path = os.path.join(tmp, "bad.yml")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([agent_path(), "--pid", str(os.getpid()), "--listen",
                                "127.0.0.1:0", "--web.config.file", path],
                               capture_output=True, text=True, timeout=20)
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 2 and len(lines) == 1 and want in lines[0],
                  f"{name}: want exit 2 and one line with {want!r} got {r.returncode} {lines}")
        r = subprocess.run([agent_path(), "--pid", str(os.getpid()), "--listen", "127.0.0.1:0",
                            "--web.config.file", os.path.join(tmp, "missing.yml")],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 2 and "cannot read" in r.stderr,
              f"missing file: want exit 2 'cannot read' got {r.returncode} {r.stderr.strip()}")
        check(os.path.exists(web), "the good config stays")
