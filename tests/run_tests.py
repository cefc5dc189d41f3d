#!/usr/bin/env python3
"""Test runner behind `make test` (run from the repo root).

1. Runs every executable .output/tests/test_* (cmocka unit tests) with
   CMOCKA_MESSAGE_OUTPUT=TAP; each `ok N` / `not ok N` line is one pass or
   failure, and a binary that exits non-zero without a `not ok` line is one
   failure.
2. Runs the BPF selftests of tests/selftest.py and tests/selftest_env.py one by one, each with a
   timeout, printing PASS / FAIL / SKIP lines. They are skipped only when not
   root; with CI set in the environment a skip counts as a failure.
3. Ends with exactly one line `N passed, M failed[, K skipped]`; exit 1 if M > 0.

Options: -k SUBSTR runs only selftests whose name contains SUBSTR (and no
unit tests); --no-unit skips the unit binaries.
"""

import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT_GLOB = os.path.join(REPO, ".output", "tests", "test_*")
UNIT_TIMEOUT_S = 60
SELFTEST_TIMEOUT_S = 60

TAP_RE = re.compile(r"^(not ok|ok)\s+(\d+)\s*-?\s*(.*)$")


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0


class SelftestTimeout(Exception):
    pass


def run_unit_tests(tally):
    bins = sorted(p for p in glob.glob(UNIT_GLOB)
                  if os.path.isfile(p) and os.access(p, os.X_OK) and not p.endswith((".o", ".d")))
    if not bins:
        print("unit: no .output/tests/test_* binaries found")
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    for path in bins:
        name = os.path.basename(path)
        try:
            r = subprocess.run([path], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=UNIT_TIMEOUT_S)
            out, rc = r.stdout.decode(errors="replace"), r.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), None
        passed = failed = 0
        lines = out.splitlines()
        for i, line in enumerate(lines):
            m = TAP_RE.match(line.strip())
            if not m:
                continue
            if m.group(1) == "ok":
                passed += 1
                continue
            failed += 1
            # cmocka prints the failure details as "# ..." lines after "not ok".
            detail = [l.strip() for l in lines[i + 1:i + 6] if l.strip().startswith("#")]
            print(f"FAIL {name}: {m.group(3)}" + (f" {' '.join(detail)}" if detail else ""))
        if rc is None:
            failed += 1
            print(f"FAIL {name}: timed out after {UNIT_TIMEOUT_S}s")
        elif rc != 0 and failed == 0:
            failed += 1
            err = r.stderr.decode(errors="replace").strip().splitlines()
            print(f"FAIL {name}: exit {rc} without a 'not ok' line"
                  + (f": {err[-1]}" if err else ""))
        print(f"unit {name}: ok {passed}, not ok {failed}")
        tally.passed += passed
        tally.failed += failed


def _on_alarm(signum, frame):
    raise SelftestTimeout()


def run_selftests(tally, only=None):
    sys.path.insert(0, os.path.join(REPO, "tests"))
    import selftest
    import selftest_env
    import selftest_metrics
    import selftest_prometheus
    import selftest_routes
    import selftest_targets
    import selftest_traffic

    tests = [t for t in selftest.TESTS + selftest_env.TESTS + selftest_targets.TESTS
             + selftest_traffic.TESTS + selftest_routes.TESTS + selftest_prometheus.TESTS
             + selftest_metrics.TESTS
             if not only or only in t.__name__]
    if os.geteuid() != 0:
        for t in tests:
            print(f"SKIP {t.__name__}: needs root (loads BPF programs)")
            if os.environ.get("CI"):
                tally.failed += 1
            else:
                tally.skipped += 1
        if os.environ.get("CI") and tests:
            print("CI is set: skipped selftests count as failures")
        return

    old = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for t in tests:
            name = t.__name__
            start = time.monotonic()
            signal.alarm(SELFTEST_TIMEOUT_S)
            try:
                t()
                signal.alarm(0)
                tally.passed += 1
                print(f"PASS {name} ({time.monotonic() - start:.1f}s)")
            except SelftestTimeout:
                tally.failed += 1
                print(f"FAIL {name}: timed out after {SELFTEST_TIMEOUT_S}s")
            except selftest.TestFailure as e:
                signal.alarm(0)
                tally.failed += 1
                print(f"FAIL {name}: {e}")
            except Exception as e:  # a bug in the test or an unexpected agent reply
                signal.alarm(0)
                tally.failed += 1
                tb = traceback.extract_tb(e.__traceback__)[-1]
                print(f"FAIL {name}: {type(e).__name__}: {e} "
                      f"({os.path.basename(tb.filename)}:{tb.lineno} in {tb.name})")
            finally:
                signal.alarm(0)
                selftest.kill_all_children()
            sys.stdout.flush()
    finally:
        signal.signal(signal.SIGALRM, old)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="only", help="run only selftests whose name contains this")
    ap.add_argument("--no-unit", action="store_true", help="do not run the unit test binaries")
    args = ap.parse_args()
    os.chdir(REPO)

    tally = Tally()
    if not args.no_unit and not args.only:
        run_unit_tests(tally)
    sys.stdout.flush()
    try:
        run_selftests(tally, args.only)
    except KeyboardInterrupt:
        print("interrupted")
        tally.failed += 1

    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
