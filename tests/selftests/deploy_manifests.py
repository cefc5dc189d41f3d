"""The deployment artefacts of deploy/kubernetes/ and deploy/systemd/, and
make install, checked with real tools:

- the Kubernetes manifests against the API's schemas (Kubernetes 1.25 and
  the prometheus-operator CRDs, strict: a misspelled field fails), with
  deploy/kubernetes/test/validate.js (npm packages installed by make deps);
- the plain Prometheus job with kubernetes_sd_configs, with promtool (and
  check-scrape-config.js for the block Debian's promtool lacks);
- the systemd unit with systemd-analyze verify (any warning fails) and
  security (the score docs/deploy.md gives), and the agent run as the unit
  runs it (no_new_privs, the unit's capability bounding set) under strace,
  so that every syscall it makes is in the unit's SystemCallFilter;
- make install with PREFIX and DESTDIR into a temporary directory.

Each check is shown failing on a broken copy of its artefact.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from selftests.lib.checks import TestFailure, check, check_eq
from selftests.lib.client import drive
from selftests.lib.endpoints import PLUGIN_KEYS
from selftests.lib.needs import needs
from selftests.lib.procs import REPO, Procs, agent_path, env_without
from selftests.lib.scrape import scrape_until, series

K8S = os.path.join(REPO, "deploy", "kubernetes")
K8S_TEST = os.path.join(K8S, "test")
VALIDATE = os.path.join(K8S_TEST, "validate.js")
MANIFESTS = ["namespace.yaml", "daemonset.yaml", "service.yaml", "podmonitor.yaml"]
UNIT = os.path.join(REPO, "deploy", "systemd", "otel-agent.service")
DEPLOY_DOC = os.path.join(REPO, "docs", "deploy.md")

# What deploy/kubernetes/measure-memory.sh measured (KiB, median of 5): the
# agent's memory cgroup at its start-up peak and after traffic.
MEASURED_PEAK_KIB = 62552
MEASURED_STEADY_KIB = 38644


def node_modules_installed():
    check(os.path.isdir(os.path.join(K8S_TEST, "node_modules", "kubernetes-models")),
          f"{K8S_TEST}/node_modules: want the npm packages got none; run make deps")


def validate(*paths):
    """validate.js on paths: (exit code, its lines)."""
    node_modules_installed()
    r = subprocess.run(["node", VALIDATE] + list(paths), capture_output=True, text=True,
                       timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()


def dump(path):
    node_modules_installed()
    r = subprocess.run(["node", VALIDATE, "--dump", path], capture_output=True, text=True,
                       timeout=60, check=True)
    return json.loads(r.stdout)


def capabilities_variant(text):
    """daemonset.yaml with its privileged block replaced by the commented
    capability set, as its comment tells a user to do."""
    out, block = [], None
    for line in text.splitlines():
        mark = line.strip()
        if mark in ("# BEGIN privileged", "# BEGIN capabilities"):
            block = mark.split()[-1]
            continue
        if mark in ("# END privileged", "# END capabilities"):
            block = None
            continue
        if block == "privileged":
            continue
        if block == "capabilities":
            indent = len(line) - len(line.lstrip())
            rest = line.lstrip()
            check(rest.startswith("# ") or rest == "#",
                  f"capabilities block: want commented lines got {line!r}")
            line = " " * indent + rest[2:]
        out.append(line)
    return "\n".join(out) + "\n"


def broken_copy(tmp, name, text, old, new):
    check(old in text, f"{name}: want {old!r} in it to misspell")
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))
    return path


def read(path):
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------


@needs("node")
def test_k8s_manifests_valid():
    """Every manifest, and the DaemonSet's capability-set variant, matches the API schemas."""
    with tempfile.TemporaryDirectory() as tmp:
        variant = os.path.join(tmp, "daemonset-capabilities.yaml")
        with open(variant, "w") as f:
            f.write(capabilities_variant(read(os.path.join(K8S, "daemonset.yaml"))))
        rc, lines = validate(*[os.path.join(K8S, m) for m in MANIFESTS], variant)
        check_eq(f"validate.js {' '.join(MANIFESTS)} and the capability-set variant: {lines}",
                 0, rc)
        check_eq("documents found valid", len(MANIFESTS) + 1,
                 sum(": valid (" in l for l in lines))
        ctr = dump(variant)[0]["spec"]["template"]["spec"]["containers"][0]
        sc = ctr["securityContext"]
        check("privileged" not in sc, f"capability-set variant: want no privileged got {sc}")
        check_eq("capability-set variant adds", {"BPF", "PERFMON", "SETUID", "SETGID",
                                                 "SYS_PTRACE", "DAC_READ_SEARCH"},
                 set(sc["capabilities"]["add"]))
    # kubectl apply -k applies what kustomization.yaml lists: every manifest
    kust = dump(os.path.join(K8S, "kustomization.yaml"))[0]
    check_eq("kustomization.yaml resources", sorted(MANIFESTS), sorted(kust["resources"]))


@needs("node")
def test_k8s_manifests_refuse_mistakes():
    """A misspelled field, a wrong type, a missing required field each fail the check."""
    ds, pm, svc = (read(os.path.join(K8S, m))
                   for m in ("daemonset.yaml", "podmonitor.yaml", "service.yaml"))
    cases = [
        ("daemonset.yaml", ds, "readinessProbe:", "readinesProbe:",
         'unknown field "readinesProbe"'),
        ("daemonset.yaml", ds, "hostPID: true", "hostPid: true", 'unknown field "hostPid"'),
        ("daemonset.yaml", ds, "hostPID: true", 'hostPID: "yes"', "must be boolean"),
        ("daemonset.yaml", ds, "containerPort: 9464", "containerPort: metrics",
         "must be integer"),
        ("daemonset.yaml", ds, "  selector:\n", "  selectr:\n", 'unknown field "selectr"'),
        ("podmonitor.yaml", pm, "path: /metrics/otel", "pth: /metrics/otel",
         'unknown field "pth"'),
        ("podmonitor.yaml", pm, "podMetricsEndpoints:", "podMetricEndpoints:",
         'unknown field "podMetricEndpoints"'),
        ("service.yaml", svc, "targetPort: metrics", "targetPrt: metrics",
         'unknown field "targetPrt"'),
        ("service.yaml", svc, "kind: Service", "kind: Servic", "no schema for"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [broken_copy(tmp, f"{i}-{name}", text, old, new)
                 for i, (name, text, old, new, _) in enumerate(cases)]
        rc, lines = validate(*paths)  # one run: the schemas compile once
    check_eq("exit of validate.js on the broken copies", 1, rc)
    errors = []
    for i, (name, _, _, new, want) in enumerate(cases):
        said = [l for l in lines if l.startswith(f"{i}-{name}[")]
        if not any(want in l and "valid (" not in l for l in said):
            errors.append(f"{name} {new!r}: want {want!r} got {said}")
    if errors:
        raise TestFailure(" | ".join(errors))


@needs("node")
def test_k8s_daemonset_says_what_the_agent_needs():
    """hostPID, a selector that needs no pid, FEATURE_OTEL left to the target,
    /healthz probes on the served port, tracefs, memory from the measurements."""
    ds = dump(os.path.join(K8S, "daemonset.yaml"))[0]
    pod = ds["spec"]["template"]["spec"]
    check(pod.get("hostPID") is True, "DaemonSet: want hostPID true")
    ctr = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a)
            for a in ctr.get("command", [])[1:] + ctr.get("args", [])]
    check("--pid" not in args and "-p" not in args, f"args: want no --pid got {args}")
    check(any(a in ("--comm", "--port") for a in args),
          f"args: want --comm or --port got {args}")
    check("FEATURE_OTEL" not in env and not any(a.startswith("--feature-otel") for a in args),
          f"FEATURE_OTEL: want it from the target's environment got env {env} args {args}")
    listen = args[args.index("--listen") + 1]
    port = ctr["ports"][0]
    check_eq("--listen port = containerPort", str(port["containerPort"]), listen.rsplit(":", 1)[1])
    check(listen.startswith("0.0.0.0:"), f"--listen: want 0.0.0.0 for the scraper got {listen}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = ctr[probe]["httpGet"]
        check_eq(f"{probe} path", "/healthz", get["path"])
        check(get["port"] in (port["name"], port["containerPort"]),
              f"{probe} port: want {port['name']} got {get['port']}")
    mounts = {m["mountPath"] for m in ctr["volumeMounts"]}
    check("/sys/kernel/tracing" in mounts, f"mounts: want /sys/kernel/tracing got {mounts}")
    # the init container waits for the name the agent follows
    init = pod["initContainers"][0]
    init_env = {e["name"]: e.get("value") for e in init.get("env", [])}
    comm = args[args.index("--comm") + 1] if "--comm" in args else None
    check_eq("init container's TARGET_COMM = --comm", comm, init_env.get("TARGET_COMM"))

    def kib(q):
        units = {"Ki": 1, "Mi": 1024, "Gi": 1024 * 1024}
        m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", q)
        check(m, f"memory quantity: want N[Ki|Mi|Gi] got {q}")
        return int(m.group(1)) * units[m.group(2)]

    res = ctr["resources"]
    limit, request = kib(res["limits"]["memory"]), kib(res["requests"]["memory"])
    check(limit >= 1.5 * MEASURED_PEAK_KIB,
          f"memory limit: want >= 1.5 x the start-up peak {MEASURED_PEAK_KIB} KiB got {limit}")
    check(MEASURED_STEADY_KIB <= request <= limit,
          f"memory request: want between the steady {MEASURED_STEADY_KIB} KiB and the limit "
          f"got {request}")


@needs("node")
def test_k8s_wait_for_core_script():
    """The init container's script waits while no process has the name, and
    ends once one has (run here with sh, on a name of its own)."""
    ds = dump(os.path.join(K8S, "daemonset.yaml"))[0]
    init = ds["spec"]["template"]["spec"]["initContainers"][0]
    argv = init["command"]
    check_eq("init command", ["/bin/sh", "-c"], argv[:2])
    name = f"oawait{os.getpid() % 100000}"
    with tempfile.TemporaryDirectory() as tmp, Procs() as procs:
        waiter = procs.spawn(argv, env=env_without("TARGET_COMM", TARGET_COMM=name),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        check(waiter.poll() is None,
              f"no process named {name}: want the script waiting got exit {waiter.poll()}")
        sleeper = os.path.join(tmp, name)
        shutil.copy("/bin/sleep", sleeper)
        procs.spawn([sleeper, "60"])
        try:
            rc = waiter.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"a process named {name}: want the script done within 30 s")
        check_eq(f"script exit once {name} runs", 0, rc)


@needs("node", "promtool")
def test_k8s_prometheus_job():
    """The kubernetes_sd_configs job is a valid Prometheus configuration, and
    a misspelled field in the SD block or elsewhere fails."""
    node_modules_installed()
    script = os.path.join(K8S_TEST, "check-scrape-config.js")
    text = read(os.path.join(K8S, "prometheus-scrape.yml"))
    check("metrics_path: /metrics/otel" in text and "job_name: metasheet-dev" in text,
          "prometheus-scrape.yml: want job metasheet-dev on /metrics/otel")

    def run(path, tmp):
        out = os.path.join(tmp, "promtool.yml")
        r = subprocess.run(["node", script, path, out], capture_output=True, text=True,
                           timeout=60)
        if r.returncode:
            return r.returncode, r.stdout + r.stderr
        r = subprocess.run(["promtool", "check", "config", out], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    with tempfile.TemporaryDirectory() as tmp:
        rc, out = run(os.path.join(K8S, "prometheus-scrape.yml"), tmp)
        check_eq(f"prometheus-scrape.yml: {out.strip()[-200:]}", 0, rc)
        for old, new, want in (("label: app", "lable: app", 'unknown field "lable"'),
                               ("role: pod\n        namespaces", "role: pods\n        namespaces",
                                "must be equal to one of the allowed values"),
                               ("target_label: node", "targt_label: node", "targt_label")):
            rc, out = run(broken_copy(tmp, "scrape.yml", text, old, new), tmp)
            check(rc != 0 and want in out,
                  f"prometheus-scrape.yml {new!r}: want failure {want!r} got {rc} {out[-200:]!r}")


# ---------------------------------------------------------------------------
# systemd and make install
# ---------------------------------------------------------------------------


def make_install(tmp, *assignments):
    """make install of the agent under test (a copy, never rebuilt here)."""
    agent = os.path.join(tmp, "built-otel-agent")
    shutil.copy(agent_path(), agent)
    r = subprocess.run(["make", "--no-print-directory", "-s", "-o", agent, "install",
                        f"AGENT={agent}"] + list(assignments),
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    check_eq(f"make install {' '.join(assignments)}: {(r.stdout + r.stderr).strip()[-300:]}",
             0, r.returncode)


def unit_values(path, key):
    """The words of every KEY= line of a unit file."""
    words = []
    for line in read(path).splitlines():
        if line.startswith(key + "="):
            words += line[len(key) + 1:].split()
    return words


@needs("systemd-analyze", "help2man")
def test_systemd_unit_verifies():
    """systemd-analyze verify says nothing of the installed unit (its ExecStart
    and man page exist), and warns of a misspelled directive."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "usr")
        make_install(tmp, f"PREFIX={prefix}", f"SYSCONFDIR={tmp}/etc")
        unit = os.path.join(prefix, "lib", "systemd", "system", "otel-agent.service")
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))

        def verify(path):
            r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                               text=True, env=env, timeout=60)
            return r.returncode, (r.stdout + r.stderr).strip()

        rc, out = verify(unit)
        check(rc == 0 and not out, f"systemd-analyze verify: want silence got {rc} {out!r}")
        broken = os.path.join(tmp, "otel-agent-broken.service")
        with open(broken, "w") as f:
            f.write(read(unit).replace("NoNewPrivileges=", "NoNewPrivilege=", 1))
        rc, out = verify(broken)
        check("Unknown key" in out and "NoNewPrivilege" in out,
              f"misspelled directive: want 'Unknown key' got {rc} {out!r}")


@needs("systemd-analyze")
def test_systemd_security_score_documented():
    """docs/deploy.md gives the exposure score systemd-analyze security computes."""
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for otel-agent\.service: (\d+\.\d)", r.stdout)
    check(m, f"systemd-analyze security: want an exposure level got {r.stdout[-200:]!r}")
    doc = re.search(r"exposure level \*\*(\d+\.\d)\*\*", read(DEPLOY_DOC))
    check(doc, "docs/deploy.md: want 'exposure level **N.N**'")
    check_eq("exposure level: docs/deploy.md vs systemd-analyze security", m.group(1),
             doc.group(1))


def syscall_groups():
    """{@group: [members]} as systemd-analyze syscall-filter lists them."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        word = line.strip()
        if line.startswith("@"):
            cur = groups.setdefault(word, [])
        elif word and not word.startswith("#") and cur is not None:
            cur.append(word)
    return groups


def expand(names, groups):
    out = set()
    for n in names:
        out |= expand(groups.get(n, []), groups) if n.startswith("@") else {n}
    return out


@needs("root", "node", "setpriv", "strace", "systemd-analyze")
def test_systemd_hardening_lets_agent_attach():
    """The agent as the unit runs it: no_new_privs, the unit's capability
    bounding set (PID 1 here is not systemd: setpriv sets what those two
    directives set). It attaches and counts exactly; under strace, every
    syscall it makes is in the unit's SystemCallFilter, every socket family in
    RestrictAddressFamilies, and it opens nothing for writing (ProtectSystem=strict)."""
    caps = [c.lower().replace("cap_", "") for c in unit_values(UNIT, "CapabilityBoundingSet")]
    check(caps and "sys_admin" not in caps, f"CapabilityBoundingSet: want no SYS_ADMIN got {caps}")
    check_eq("NoNewPrivileges", ["yes"], unit_values(UNIT, "NoNewPrivileges"))
    bounding = "-all," + ",".join("+" + c for c in caps)
    with tempfile.TemporaryDirectory() as tmp, Procs() as procs:
        os.chmod(tmp, 0o755)
        trace = os.path.join(tmp, "agent.strace")
        srv, port = procs.server("node", env=env_without("FEATURE_OTEL"))
        prefix = ["strace", "-f", "-qq", "-o", trace,
                  "setpriv", "--no-new-privs", f"--bounding-set={bounding}", "--inh-caps=-all"]
        agent, base, _ = procs.agent([srv.pid], ["--feature-otel=true"], prefix=prefix)
        mix = [("GET", "/hello", None, "/hello", "200")] * 5 + \
              [("GET", "/boom", None, "/boom", "500")] * 2
        want = drive(port, mix)
        got = scrape_until(base, len(mix))
        check_eq("under the unit's hardening: requests", want,
                 series(got["plugin"][0], "http_requests_total", PLUGIN_KEYS))
        # the agent is strace's child (setpriv exec'd it); strace ends with it
        with open(f"/proc/{agent.pid}/task/{agent.pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        check_eq("strace's children", 1, len(children))
        os.kill(children[0], signal.SIGTERM)
        agent.wait(timeout=30)
        calls, families, writes = set(), set(), []
        lines = read(trace).splitlines()
        # what setpriv does before it execs the agent is not the service's
        start = [i for i, l in enumerate(lines)
                 if re.match(r'\d+\s+execve\("[^"]*otel-agent".* = 0$', l)]
        check(start, "strace: want the agent's execve")
        for line in lines[start[0] + 1:]:
            m = re.match(r"\d+\s+([a-z0-9_]+)\((.*)", line)
            if not m:
                continue
            calls.add(m.group(1))
            f = re.match(r"(AF_[A-Z0-9]+)", m.group(2))
            if m.group(1) in ("socket", "socketpair") and f:
                families.add(f.group(1))
            if m.group(1) in ("open", "openat", "openat2", "creat") and \
                    re.search(r"O_(WRONLY|RDWR|CREAT)", m.group(2)):
                writes.append(line[:120])
    allowed = expand(unit_values(UNIT, "SystemCallFilter"), syscall_groups())
    check(len(calls) > 20, f"strace: want the agent's syscalls got {sorted(calls)}")
    check_eq("syscalls outside SystemCallFilter", [], sorted(calls - allowed))
    check_eq("socket families outside RestrictAddressFamilies", [],
             sorted(families - set(unit_values(UNIT, "RestrictAddressFamilies"))))
    check_eq("files opened for writing", [], writes)


@needs("help2man")
def test_make_install_destdir():
    """make install DESTDIR=... PREFIX=/usr: the binary, the man page, the unit
    pointing at PREFIX, the example configuration the agent accepts; a second
    install keeps an edited configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        make_install(tmp, f"DESTDIR={root}", "PREFIX=/usr")
        files = {os.path.relpath(os.path.join(d, f), root)
                 for d, _, fs in os.walk(root) for f in fs}
        check_eq("installed files", {
            "usr/bin/otel-agent", "usr/share/man/man8/otel-agent.8",
            "usr/lib/systemd/system/otel-agent.service",
            "usr/share/doc/otel-agent/otel-agent.conf.example",
            "etc/otel-agent.conf", "etc/default/otel-agent"}, files)
        check(os.access(os.path.join(root, "usr/bin/otel-agent"), os.X_OK),
              "usr/bin/otel-agent: want executable")
        unit = os.path.join(root, "usr/lib/systemd/system/otel-agent.service")
        execs = [l for l in read(unit).splitlines() if l.startswith("ExecStart=")]
        check_eq("ExecStart", ["ExecStart=/usr/bin/otel-agent --config /etc/otel-agent.conf "
                               "$OTEL_AGENT_OPTS"], execs)
        man = read(os.path.join(root, "usr/share/man/man8/otel-agent.8"))
        check(".TH OTEL-AGENT" in man and "--comm" in man,
              "man page: want a .TH header and the options")
        # the example configuration is one the agent accepts (a bad one exits 2 at once)
        conf = os.path.join(root, "etc/otel-agent.conf")
        with Procs() as procs:
            procs.agent([], ["--comm", "oa-no-such", "--config", conf, "--feature-otel=false"],
                        wait_body=("disabled",))
        with open(conf, "a") as f:
            f.write("route /edited/{id}\n")
        make_install(tmp, f"DESTDIR={root}", "PREFIX=/usr")
        check("route /edited/{id}" in read(conf), "second install: want the edited config kept")
