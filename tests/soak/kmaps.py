#!/usr/bin/env python3
"""Entries in the kernel maps an agent holds, found through its file
descriptors (/proc/PID/fdinfo), so other agents on the machine do not
matter, and counted with `bpftool map dump`.

  python3 tests/soak/kmaps.py [--skip NAME ...] PID   # "name<TAB>entries" per hash map

Used by run.sh (what is left after the run) and churn.py (samples during it).
"""

import argparse
import json
import os
import subprocess
import sys


def map_ids(pid):
    """Ids of the BPF maps pid holds a descriptor of."""
    ids = set()
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(os.path.join(base, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def hash_maps(pid):
    """[{'id', 'name', 'type', 'max_entries'}] of pid's hash maps (per-CPU too)."""
    ids = map_ids(pid)
    r = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, timeout=30)
    if r.returncode:
        raise RuntimeError(f"bpftool map show: exit {r.returncode}")
    return [m for m in json.loads(r.stdout or b"[]")
            if m.get("id") in ids and "hash" in m.get("type", "")]


def entries(map_id):
    """Number of entries in map map_id, None if bpftool could not dump it."""
    r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                       capture_output=True, timeout=60)
    if r.returncode:
        return None
    return len(json.loads(r.stdout or b"[]"))


def counts(pid, skip=()):
    """{map name: (entries or None, max_entries)} of pid's hash maps, in map id order."""
    return {m["name"]: (entries(m["id"]), m["max_entries"])
            for m in sorted(hash_maps(pid), key=lambda m: m["id"]) if m["name"] not in skip}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", action="append", default=[], help="a map name to leave out")
    ap.add_argument("pid", type=int)
    args = ap.parse_args()
    for name, (n, _) in counts(args.pid, args.skip).items():  # in map id order
        print(f"{name}\t{'?' if n is None else n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
