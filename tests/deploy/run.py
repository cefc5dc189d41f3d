#!/usr/bin/env python3
"""make test-deploy: builds the container image with `make image` on a local
Debian 12 base, starts a Node core on the host with FEATURE_OTEL=true, and
runs the tests of test_container.py against it, one after another (they
share the core). Root only; skips, saying why, where podman or another
need is missing. Ends with `N passed, M failed[, K skipped]`.

Usage: python3 tests/deploy/run.py [-k TEXT] (only the tests whose name has TEXT)
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import podman  # noqa: E402
import test_container  # noqa: E402
from selftests.lib.checks import TestFailure  # noqa: E402
from selftests.lib.procs import REPO, Procs, free_port, server_argv  # noqa: E402

NEEDS = ("podman", "runc", "mmdebstrap", "bpftool", "node", "setpriv", "make")
LOG = os.path.join(REPO, ".output", "deploy", "build.log")


def missing_needs():
    out = [] if os.geteuid() == 0 else ["root (run: sudo make test-deploy)"]
    out += [f"{n} (not on PATH; make deploy-deps installs it)" for n in NEEDS
            if not shutil.which(n)]
    return out


class Ctx:
    core = None
    port = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    tests = [(n, f) for n, f in vars(test_container).items()
             if n.startswith("test_") and callable(f) and args.k in n]

    lacking = missing_needs()
    if lacking:
        print(f"test-deploy: skipped: needs {', '.join(lacking)}")
        print(f"0 passed, 0 failed, {len(tests)} skipped")
        return 0

    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    passed = failed = 0
    with open(LOG, "w") as log, Procs() as procs:
        try:
            t0 = time.monotonic()
            podman.make_base(log)
            t1 = time.monotonic()
            podman.build_image(log)
            t2 = time.monotonic()
        except TestFailure as e:
            print(f"FAIL image: {e} (log: {LOG})")
            print(f"0 passed, {len(tests)} failed")
            return 1
        size = podman.image_info()["Size"]
        print(f"image {podman.IMAGE}: {size / 1e6:.1f} MB; base {t1 - t0:.0f}s, "
              f"make image {t2 - t1:.0f}s (log: {LOG})", flush=True)

        # The core as a real one runs: not root, so the capability set is
        # tested against another user's /proc.
        ctx = Ctx()
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = dict(os.environ, FEATURE_OTEL="true", OTEL_SERVICE_NAME="core")
        ctx.core, ctx.port = procs.listening(argv + server_argv("node") + [str(free_port())],
                                             "core", env=env)
        print(f"core: pid {ctx.core.pid} (uid 65534) on port {ctx.port}, FEATURE_OTEL=true",
              flush=True)

        for name, fn in tests:
            start = time.monotonic()
            try:
                fn(ctx)
                passed += 1
                print(f"ok   {name} ({time.monotonic() - start:.1f}s)", flush=True)
            except TestFailure as e:
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - start:.1f}s): {e}", flush=True)
            except Exception:  # a bug in the test: report it, run the rest
                failed += 1
                print(f"FAIL {name}: {traceback.format_exc().strip().splitlines()[-1]}",
                      flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
