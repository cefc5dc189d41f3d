"""What a selftest needs from the machine, declared on the test:

    @needs("root", "node", "promtool")
    def test_counts_node(): ...

A need is "root" (the effective uid: loading BPF programs, mounting,
switching users), an absolute path (an executable there), or a command
(found on PATH). The runner skips a test whose needs are missing and says
which (with CI set, a skip fails the run). What `make` builds (the agent,
the C server) is not a need: a test fails without it.
"""

import os
import shutil


def needs(*names):
    """Declare what the decorated test needs; the test itself is unchanged."""
    def mark(fn):
        fn.needs = names
        return fn
    return mark


def _missing(name):
    if name == "root":
        return None if os.geteuid() == 0 else "root"
    if name.startswith("/"):
        return None if os.access(name, os.X_OK) else f"{name} (not executable or missing)"
    return None if shutil.which(name) else f"{name} (not on PATH)"


def missing(fn):
    """What fn needs that this machine or user lacks, one phrase each."""
    return [m for m in map(_missing, getattr(fn, "needs", ())) if m]
