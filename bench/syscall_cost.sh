#!/usr/bin/env bash
# What tracing costs a syscall, in wall-clock ns per call, for processes
# the agent is not measuring and for a target's syscalls on files (not
# sockets). A loop process (bench/syscall_cost/loop.c, pinned to CPU 1)
# times write() to /dev/null, a syscall every tracer here attaches to, and
# getppid(), one none attaches to, under each tracer in turn, rounds
# alternated:
#   none        nothing attached
#   floor       empty programs on the agent's per-syscall tracepoints (tp)
#   raw_tp      one empty program on the raw sys_enter/sys_exit tracepoints,
#   tp_btf      dispatching on the syscall number (the design not taken)
#   agent       otel-agent measuring another process: the loop is untargeted
#   agent_self  otel-agent measuring the loop: its writes are to a file
# getppid's figures show what each design adds to every syscall on the host.
#
# Usage (root, from the repository): bench/syscall_cost.sh ROUNDS [AGENT] [OUTFILE]
# OUTFILE gets "MODE write_ns getppid_ns" per run (for bench/report.py).
set -u
ROUNDS=${1:-5}
AGENT=${2:-./otel-agent}
RUNS=${3:-}
ARCH=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
B=$(mktemp -d)
HOLD=
cleanup() {
	[ -z "$HOLD" ] || kill "$HOLD" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$B"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

S=bench/syscall_cost
clang -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -I"vmlinux/$ARCH" -c "$S/floor.bpf.c" -o "$B/floor.bpf.o" &&
	bpftool gen skeleton "$B/floor.bpf.o" >"$B/floor.skel.h" &&
	cc -O2 -I"$B" "$S/floor.c" -lbpf -o "$B/floor" &&
	cc -O2 "$S/loop.c" -o "$B/loop" || { echo "syscall_cost: build failed" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "syscall_cost: no agent at $AGENT" >&2; exit 1; }

# MODE: prints "MODE write_ns getppid_ns"
one() {
	local mode=$1 lp tr= port
	rm -f "$B/go"
	mkfifo "$B/go"
	taskset -c 1 "$B/loop" <"$B/go" >"$B/out" &
	lp=$!
	exec 3>"$B/go"
	case $mode in
	none) ;;
	floor | raw_tp | tp_btf)
		local m=$mode
		[ "$m" = floor ] && m=tp
		"$B/floor" "$m" "$lp" >"$B/tr" 2>&1 &
		tr=$!
		for _ in $(seq 100); do grep -qs ready "$B/tr" && break; sleep 0.1; done
		;;
	agent | agent_self)
		local who=$lp
		port=$(free_port)
		[ "$mode" = agent ] && who=$HOLD
		"$AGENT" --pid "$who" --listen "127.0.0.1:$port" --feature-otel=true >"$B/tr" 2>&1 &
		tr=$!
		for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
		;;
	esac
	echo go >&3
	exec 3>&-
	wait "$lp"
	if [ -n "$tr" ]; then
		kill "$tr" 2>/dev/null
		wait "$tr" 2>/dev/null
	fi
	echo "$mode $(awk '{ print $2, $4 }' "$B/out")"
}

sleep 3600 &
HOLD=$!
for _ in $(seq "$ROUNDS"); do
	for m in none floor raw_tp tp_btf agent agent_self; do
		one "$m" >>"$B/runs"
	done
done
[ -z "$RUNS" ] || cp "$B/runs" "$RUNS"
python3 - "$B/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 3:
        runs.setdefault(f[0], []).append((float(f[1]), float(f[2])))
# the least disturbed run of each mode: a shared machine only ever adds time
base = [min(x[i] for x in runs.get("none", [(0, 0)])) for i in (0, 1)]
print(f"{'mode':<11} {'write() ns':>11} {'vs none':>8} {'getppid() ns':>13} {'vs none':>8}  (minimum of N runs; medians)")
for mode in ("none", "floor", "raw_tp", "tp_btf", "agent", "agent_self"):
    if mode not in runs:
        continue
    w = min(x[0] for x in runs[mode])
    g = min(x[1] for x in runs[mode])
    mw = statistics.median(x[0] for x in runs[mode])
    mg = statistics.median(x[1] for x in runs[mode])
    print(f"{mode:<11} {w:>11.0f} {w - base[0]:>+8.0f} {g:>13.0f} {g - base[1]:>+8.0f}  "
          f"(N={len(runs[mode])}; {mw:.0f}, {mg:.0f})")
PY
