#!/usr/bin/env python3
"""Test runner behind `make test` (run from the repo root).

1. Unit tests: every executable .output/tests/test_* (cmocka), run with
   CMOCKA_MESSAGE_OUTPUT=TAP; each `ok N` / `not ok N` line is one pass or
   failure, and a binary that exits non-zero without a `not ok` line is one
   failure.
2. Selftests: every test_* function of every module of tests/selftests/
   (lib/ aside), in file order. A test whose needs (@needs) are missing is
   skipped with the reason; with CI set in the environment a skip counts as
   a failure.
3. Each unit binary and each selftest runs in a process of its own, in a
   session of its own, with a timeout; when it ends, whatever it left
   running is killed. --jobs N runs N at once (default: the number of CPUs);
   each prints its PASS / FAIL / SKIP line (a unit binary: its counts) as it
   ends.
4. Ends with exactly one line `N passed, M failed[, K skipped]`; exit 1 if
   M > 0.

Options: -k SUBSTR runs only the selftests whose MODULE.NAME contains SUBSTR
(and no unit tests); --no-unit skips the unit binaries; --list prints the
selftests and their needs; -v prints what a failed test wrote.
"""

import argparse
import glob
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS_DIR = os.path.join(REPO, "tests")
# make test SANITIZE=1 builds them elsewhere (OA_UNIT_DIR).
UNIT_GLOB = os.path.join(REPO, os.environ.get("OA_UNIT_DIR", os.path.join(".output", "tests")),
                         "test_*")
UNIT_TIMEOUT_S = 60
SELFTEST_TIMEOUT_S = 60
# A selftest stops itself at its timeout (SIGALRM) and kills what it started;
# past this much more, the runner kills its whole session.
KILL_GRACE_S = 10
POLL_S = 0.05

TAP_RE = re.compile(r"^(not ok|ok)\s+(\d+)\s*-?\s*(.*)$")


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.ci_skips = 0  # with CI set, a skip is a failure

    def skip(self):
        if os.environ.get("CI"):
            self.failed += 1
            self.ci_skips += 1
        else:
            self.skipped += 1


# ---------------------------------------------------------------------------
# Finding the tests.
# ---------------------------------------------------------------------------


def discover_selftests():
    """[(MODULE.NAME, function)] of every selftest, modules by name, tests in file order."""
    pkg = os.path.join(TESTS_DIR, "selftests")
    found, names = [], {}
    for fname in sorted(os.listdir(pkg)):
        if not fname.endswith(".py") or fname.startswith("_"):
            continue
        mod = importlib.import_module("selftests." + fname[:-3])
        for name, fn in vars(mod).items():  # definition order
            if name.startswith("test_") and callable(fn) and fn.__module__ == mod.__name__:
                if name in names:
                    sys.exit(f"selftest {name} is in {names[name]} and {fname}: names must be unique")
                names[name] = fname
                found.append((f"{fname[:-3]}.{name}", fn))
    return found


def unit_binaries():
    return sorted(p for p in glob.glob(UNIT_GLOB)
                  if os.path.isfile(p) and os.access(p, os.X_OK) and not p.endswith((".o", ".d")))


# ---------------------------------------------------------------------------
# Jobs: one process (and session) each.
# ---------------------------------------------------------------------------


class Job:
    """One test process, in a session of its own; its output goes to a file."""

    timeout = SELFTEST_TIMEOUT_S
    grace = 0  # past the timeout, before the runner kills the session

    def spawn(self, argv, env=None, stderr=subprocess.STDOUT, pass_fds=()):
        self.out = tempfile.TemporaryFile()
        self.began = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=stderr, pass_fds=pass_fds,
                                     start_new_session=True)

    def ended(self):
        """True once the process exited (not reaped yet, so its session id
        stays reserved for the sweep)."""
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def overdue(self):
        return time.monotonic() > self.began + self.timeout + self.grace

    def sweep(self):
        """Kill whatever is left of the session, then reap the process."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def stop(self):
        """Ask the process to stop (a selftest kills its children), then sweep."""
        if not self.ended():
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while not self.ended() and time.monotonic() < deadline:
                time.sleep(POLL_S)
        self.sweep()

    def output(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")


class UnitJob(Job):
    timeout = UNIT_TIMEOUT_S

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)

    def start(self):
        self.err = tempfile.TemporaryFile()
        self.spawn([self.path], env=dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP"),
                   stderr=self.err)

    def report(self, tally, killed, verbose):
        passed = failed = skipped = 0
        lines = self.output().splitlines()
        for i, line in enumerate(lines):
            m = TAP_RE.match(line.strip())
            if not m:
                continue
            if m.group(1) == "ok":
                passed += 1
                continue
            if m.group(3).startswith("# SKIP"):  # cmocka's skip(): not root, say
                skipped += 1
                print(f"SKIP {self.name}/{m.group(3)[len('# SKIP'):].strip()}: skipped itself")
                continue
            failed += 1
            # cmocka prints the failure details as "# ..." lines after "not ok".
            detail = [l.strip() for l in lines[i + 1:i + 6] if l.strip().startswith("#")]
            print(f"FAIL {self.name}: {m.group(3)}" + (f" {' '.join(detail)}" if detail else ""))
        rc = self.proc.returncode
        if killed:
            failed += 1
            print(f"FAIL {self.name}: timed out after {self.timeout}s")
        elif rc != 0 and failed == 0:
            failed += 1
            self.err.seek(0)
            err = self.err.read().decode(errors="replace").strip().splitlines()
            print(f"FAIL {self.name}: exit {rc} without a 'not ok' line"
                  + (f": {err[-1]}" if err else ""))
        print(f"unit {self.name}: ok {passed}, not ok {failed}"
              + (f", skipped {skipped}" if skipped else ""))
        tally.passed += passed
        tally.failed += failed
        for _ in range(skipped):
            tally.skip()


class SelftestJob(Job):
    """python3 run_tests.py --one MODULE.NAME: the result comes back on a pipe."""

    grace = KILL_GRACE_S

    def __init__(self, qualname):
        self.qualname = qualname
        self.name = qualname.split(".", 1)[1]

    def start(self):
        self.result_r, w = os.pipe()
        self.spawn([sys.executable, os.path.abspath(__file__), "--one", self.qualname,
                    "--result-fd", str(w)], pass_fds=(w,))
        os.close(w)

    def result(self):
        os.set_blocking(self.result_r, False)
        data = b""
        try:
            while True:
                chunk = os.read(self.result_r, 65536)
                if not chunk:
                    break
                data += chunk
        except BlockingIOError:  # a leftover child holds the pipe open
            pass
        os.close(self.result_r)
        try:
            return json.loads(data)
        except ValueError:
            return None

    def report(self, tally, killed, verbose):
        res = self.result()
        if res and res["status"] == "PASS":
            tally.passed += 1
            print(f"PASS {self.name} ({res['seconds']:.1f}s)")
            return
        tally.failed += 1
        if res:
            print(f"FAIL {self.name}: {res['message']}")
        elif killed:
            print(f"FAIL {self.name}: timed out after {self.timeout}s (killed)")
        else:
            out = self.output().strip().splitlines()
            print(f"FAIL {self.name}: exit {self.proc.returncode} without a result"
                  + (f": {out[-1]}" if out else ""))
        if verbose and self.output().strip():
            print("\n".join("    " + l for l in self.output().rstrip().splitlines()))


class Interrupted(BaseException):
    pass


def _interrupt(signum, frame):
    raise Interrupted()


def run_jobs(jobs, nr_jobs, tally, verbose):
    """Run jobs, nr_jobs at a time; each reports as it ends."""
    pending, running = list(jobs), []
    try:
        while pending or running:
            while pending and len(running) < nr_jobs:
                job = pending.pop(0)
                job.start()
                running.append(job)
            time.sleep(POLL_S)
            for job in list(running):
                done = job.ended()
                if not done and not job.overdue():
                    continue
                job.sweep()
                running.remove(job)
                job.report(tally, not done, verbose)
                sys.stdout.flush()
    finally:
        for job in running:
            job.stop()


# ---------------------------------------------------------------------------
# One selftest, in its worker process.
# ---------------------------------------------------------------------------


class SelftestTimeout(BaseException):
    pass


class Stopped(BaseException):
    pass


def _on_alarm(signum, frame):
    raise SelftestTimeout()


def _on_term(signum, frame):
    raise Stopped()


def run_one(qualname, result_fd):
    """Run one selftest; write {"status", "message", "seconds"} to result_fd."""
    from selftests.lib.checks import TestFailure
    from selftests.lib.procs import kill_all_children

    modname, name = qualname.split(".", 1)
    fn = getattr(importlib.import_module("selftests." + modname), name)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    status, message = "FAIL", ""
    start = time.monotonic()
    signal.alarm(SELFTEST_TIMEOUT_S)
    try:
        try:
            fn()
            status = "PASS"
        finally:
            signal.alarm(0)
            kill_all_children()
    except SelftestTimeout:
        message = f"timed out after {SELFTEST_TIMEOUT_S}s"
    except Stopped:
        message = "stopped by the runner"
    except TestFailure as e:
        message = str(e)
    except Exception as e:  # a bug in the test or an unexpected agent reply
        tb = traceback.extract_tb(e.__traceback__)[-1]
        message = (f"{type(e).__name__}: {e} "
                   f"({os.path.basename(tb.filename)}:{tb.lineno} in {tb.name})")
    with os.fdopen(result_fd, "w") as f:
        json.dump({"status": status, "message": message,
                   "seconds": time.monotonic() - start}, f)
    return 0


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="only", help="run only selftests whose MODULE.NAME contains this")
    ap.add_argument("--no-unit", action="store_true", help="do not run the unit test binaries")
    ap.add_argument("-j", "--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="tests run at once (default: the number of CPUs)")
    ap.add_argument("--list", action="store_true", help="print the selftests and their needs")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print what a failed selftest wrote")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--result-fd", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.chdir(REPO)
    sys.path.insert(0, TESTS_DIR)
    if args.one:
        return run_one(args.one, args.result_fd)

    from selftests.lib.needs import missing
    selftests = [(q, fn) for q, fn in discover_selftests() if not args.only or args.only in q]
    if args.list:
        for qualname, fn in selftests:
            print(f"{qualname}: needs {', '.join(getattr(fn, 'needs', ())) or 'nothing'}")
        return 0

    tally = Tally()
    if args.only and not selftests:
        print(f"no selftest name contains {args.only!r} (--list shows them)")
        tally.failed += 1
    jobs = []
    if not args.no_unit and not args.only:
        bins = unit_binaries()
        if not bins:
            print("unit: no .output/tests/test_* binaries found")
        jobs += [UnitJob(p) for p in bins]
    for qualname, fn in selftests:
        lacking = missing(fn)
        if not lacking:
            jobs.append(SelftestJob(qualname))
            continue
        print(f"SKIP {qualname.split('.', 1)[1]}: needs {', '.join(lacking)}")
        tally.skip()
    sys.stdout.flush()

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_jobs(jobs, max(1, args.jobs), tally, args.verbose)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted")
        tally.failed += 1

    if tally.ci_skips:
        print(f"CI is set: the {tally.ci_skips} skipped tests count as failures")
    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
