#!/usr/bin/env python3
"""Writes to stdout the container engine's default seccomp profile with
bpf() allowed to CAP_BPF and perf_event_open() to CAP_PERFMON, instead of
only to CAP_SYS_ADMIN, so that the agent runs with its capability set and a
seccomp filter rather than seccomp=unconfined. Docker 23 and later ship
this rule in their own default profile; podman 4 (Debian 12) does not.

Usage: deploy/seccomp-bpf.py [PROFILE] > otel-agent-seccomp.json
       podman run --security-opt seccomp=otel-agent-seccomp.json ...
PROFILE defaults to podman's /usr/share/containers/seccomp.json.
"""

import json
import sys

GATED = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(path) as f:
        profile = json.load(f)
    rules = []
    # The two calls leave every rule (one allow and one deny keyed on
    # CAP_SYS_ADMIN): two rules with different actions for one call conflict.
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in GATED]
        if names:
            rules.append(dict(rule, names=names))
    for name, cap in GATED.items():
        rules.append({"names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}})
    profile["syscalls"] = rules
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
