#!/usr/bin/env bash
# BPF cost of agent builds side by side: per round, each build in turn is
# attached to a fresh node server (bench/server.js none, CPU 1) loaded by
# wrk -c32 from CPU 0 with kernel.bpf_stats_enabled=1, and the ns per run of
# its own programs (found through its fds) are kept. Prints the medians (min-max)
# over the rounds for the writev, read and write programs (and the enter
# programs of a compat build, OTEL_AGENT_PROGRAMS=compat) and the requests/s.
# node never calls write(), so the write program runs only for wrk: the cost
# of an untargeted syscall. Taking turns within a round is what makes builds
# comparable on a shared, noisy machine.
#
# Usage (root, from the repository): bench/bpf_ab.sh ROUNDS NAME=AGENT...
#   e.g. bench/bpf_ab.sh 5 before=/tmp/otel-agent.old after=./otel-agent
set -u
[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 2; }
ROUNDS=$1
shift
SECS=${BPF_AB_SECONDS:-4}
OUT=$(mktemp -d)
OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
SRV= AG=
cleanup() {
	[ -z "$AG" ] || kill "$AG" 2>/dev/null
	[ -z "$SRV" ] || kill "$SRV" 2>/dev/null
	wait 2>/dev/null
	sysctl -q kernel.bpf_stats_enabled="$OLD_STATS"
	rm -rf "$OUT"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

one() { # NAME AGENT: one run, appends "name program ns" lines to $OUT/runs
	local port aport ids
	port=$(free_port)
	aport=$(free_port)
	taskset -c 1 node bench/server.js none "$port" "$(free_port)" >"$OUT/server" 2>&1 &
	SRV=$!
	for _ in $(seq 50); do grep -qs '^listening' "$OUT/server" && break; sleep 0.1; done
	"$2" --pid "$SRV" --listen "127.0.0.1:$aport" --feature-otel=true >"$OUT/agent" 2>&1 &
	AG=$!
	for _ in $(seq 200); do curl -fs "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
	taskset -c 0 wrk -t1 -c32 -d1s "http://127.0.0.1:$port/hello" >/dev/null
	sysctl -q kernel.bpf_stats_enabled=1
	bpftool -j prog show >"$OUT/p0.json"
	taskset -c 0 wrk -t1 -c32 -d"${SECS}s" "http://127.0.0.1:$port/hello" >"$OUT/wrk"
	bpftool -j prog show >"$OUT/p1.json"
	sysctl -q kernel.bpf_stats_enabled="$OLD_STATS"
	ids=$(grep -h '^prog_id:' /proc/"$AG"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u | tr '\n' ' ')
	python3 - "$1" "$OUT" "$ids" >>"$OUT/runs" <<'PY'
import json, re, sys
name, out, ids = sys.argv[1], sys.argv[2], {int(x) for x in sys.argv[3].split()}
before = {p["id"]: p for p in json.load(open(f"{out}/p0.json"))}
for p in json.load(open(f"{out}/p1.json")):
    if p["id"] not in ids:
        continue
    q = before.get(p["id"], {})
    n = p.get("run_cnt", 0) - q.get("run_cnt", 0)
    t = p.get("run_time_ns", 0) - q.get("run_time_ns", 0)
    if n:  # a compat build's program is named for the program it stands in for
        print(name, p.get("name", "").removesuffix("_compat"), t / n)
m = re.search(r"Requests/sec:\s+([\d.]+)", open(f"{out}/wrk").read())
print(name, "rps", m.group(1) if m else 0)
PY
	kill "$AG" "$SRV" 2>/dev/null
	wait "$AG" "$SRV" 2>/dev/null
	AG= SRV=
}

for r in $(seq "$ROUNDS"); do
	for arg in "$@"; do
		one "${arg%%=*}" "${arg#*=}"
	done
done
python3 - "$OUT/runs" "$@" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, what, v = line.split()
    runs[(name, what)].append(float(v))
for arg in sys.argv[2:]:
    name = arg.split("=", 1)[0]
    cols = []
    for what, label in (("handle_sys_exit_writev", "writev"), ("handle_sys_exit_read", "read"),
                        ("handle_sys_exit_write", "write (untargeted)"),
                        ("handle_sys_enter_writev", "enter writev"),
                        ("handle_sys_enter_read", "enter read"), ("rps", "requests/s")):
        v = runs.get((name, what))
        if v:
            cols.append(f"{label} {st.median(v):.0f} ({min(v):.0f}-{max(v):.0f})")
    print(f"{name:10s} " + "  ".join(cols))
PY
