#!/usr/bin/env python3
"""Sort perf samples of node's CPU into where the time goes.

Reads `perf script -F ip,sym,dso` (one stack per sample, leaf first, blank
line between samples) on stdin; prints `category<TAB>samples` lines, then
`leaf<TAB>name<TAB>samples` for the functions where samples inside BPF
programs landed. A sample is "in BPF" when any frame is a bpf_prog_*.
"""
import collections
import sys

MAPS = ("htab_", "lookup_nulls_elem_raw", "__htab_map", "pcpu_freelist", "memcmp",
        "array_map", "percpu_array", "bpf_map_")
USER_MEM = ("copy_from_user_nofault", "bpf_probe_read", "__check_object_size",
            "nmi_uaccess_okay", "check_stack_object", "__virt_addr_valid", "is_vmalloc_addr",
            "copy_from_kernel_nofault")
PLUMBING = ("perf_syscall_", "trace_call_bpf", "perf_trace_buf", "perf_swevent",
            "syscall_trace_enter", "syscall_exit_work", "perf_call_bpf", "__bpf_prog_",
            "bpf_prog_run", "migrate_", "__rcu_read_")


def short(sym):
    # bpf_prog_<tag>_<name> -> <name>
    return sym.split("_", 3)[-1] if sym.startswith("bpf_prog_") else sym


def main():
    cats = collections.Counter()
    leaves = collections.Counter()
    for block in sys.stdin.read().split("\n\n"):
        frames = []
        for line in block.strip().splitlines():
            parts = line.split(None, 1)
            if len(parts) < 2:
                continue
            sym, _, dso = parts[1].rpartition(" (")
            frames.append((sym.strip(), dso.rstrip(")")))
        if not frames:
            continue
        leaf, dso = frames[0]
        kernel = dso.startswith(("[kernel", "bpf_prog_"))
        if any(s.startswith("bpf_prog_") for s, _ in frames):
            if leaf.startswith("bpf_prog_"):
                cats["bpf: program code"] += 1
            elif leaf.startswith(MAPS):
                cats["bpf: map lookups and updates"] += 1
            elif leaf.startswith(USER_MEM):
                cats["bpf: reading user and kernel memory"] += 1
            else:
                cats["bpf: other helpers (time, task, loop)"] += 1
            leaves[short(leaf)] += 1
        elif leaf.startswith(PLUMBING):
            cats["tracepoint plumbing (perf syscall events, trace_call_bpf)"] += 1
        elif kernel:
            cats["kernel, the rest (TCP, loopback, syscalls, scheduler)"] += 1
        else:
            cats["user space (node, V8, libuv, libc)"] += 1
    for k, v in sorted(cats.items()):
        print(f"{k}\t{v}")
    for k, v in leaves.most_common(12):
        print(f"leaf\t{k}\t{v}")


if __name__ == "__main__":
    main()
