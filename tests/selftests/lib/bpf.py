"""What the kernel holds: loaded BPF programs (bpftool) and the programs and
maps an agent's file descriptors refer to (/proc/PID/fdinfo)."""

import json
import os
import subprocess

from .checks import check_eq


def bpf_progs():
    """`bpftool -j prog show` -> {prog id: set of pids holding it}.

    The holder pids come from bpftool's "pids" field when bpftool was built
    with skeleton support (Debian's 7.1 is not, so the field is absent)."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, timeout=30)
    check_eq("bpftool -j prog show exit", 0, r.returncode)
    progs = json.loads(r.stdout or b"[]")
    return {p["id"]: {x.get("pid") for x in p.get("pids", [])} for p in progs}


def fd_ids(pid, field):
    """Values of a "field" line (map_id:, prog_id:) in the fdinfo of pid's fds:
    the same facts bpftool's "pids" field reports, readable without a
    skeleton-enabled bpftool. pid must exist."""
    ids = set()
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(os.path.join(base, fd)) as f:
                for line in f:
                    if line.startswith(field):
                        ids.add(int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return ids


def progs_of(pid):
    """Ids of the loaded BPF programs held by pid (bpftool pids or its fds)."""
    progs = bpf_progs()
    held = {prog_id for prog_id, holders in progs.items() if pid in holders}
    return held | (fd_ids(pid, "prog_id:") & set(progs))


def agent_map_id(agent, name):
    """Id of the agent's map called name (found through its fds), or None."""
    for map_id in fd_ids(agent.pid, "map_id:"):
        r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                           capture_output=True, timeout=10)
        if not r.returncode and json.loads(r.stdout).get("name") == name:
            return map_id
    return None


def map_lookup_u32(map_id, key):
    """The formatted value under a 32-bit key of map map_id, or None when there is none."""
    r = subprocess.run(["bpftool", "-j", "map", "lookup", "id", str(map_id), "key"] +
                       [str(b) for b in key.to_bytes(4, "little")],
                       capture_output=True, timeout=10)
    if r.returncode:
        return None
    return json.loads(r.stdout)["formatted"]["value"]


def agent_map(agent, name):
    """Entries of one of the agent's maps, read with bpftool (found through the agent's fds,
    so other agents on the machine do not matter); None when the object has no such map."""
    for map_id in fd_ids(agent.pid, "map_id:"):
        r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                           capture_output=True, timeout=10)
        if r.returncode or json.loads(r.stdout).get("name") != name:
            continue
        r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                           capture_output=True, timeout=10)
        check_eq(f"bpftool map dump {name} exit", 0, r.returncode)
        return [e["formatted"] for e in json.loads(r.stdout)]
    return None
