#!/usr/bin/env bash
# Throughput cost of agent builds, paired: per round and build, two node
# servers (bench/server.js none) share CPU 1, one traced by the build and
# one not, each loaded by its own wrk -c16 from CPU 0 for the same seconds.
# The ratio traced/untraced requests/s is measured under the same machine
# conditions at the same time, which separate runs on a shared machine are
# not. The untraced server's syscalls also run the build's target check, so
# the ratio is the cost of the framing and recording alone.
#
# Usage (root, from the repository): bench/pair_ab.sh ROUNDS NAME=AGENT...
set -u
[ $# -ge 2 ] || { sed -n '2,10p' "$0"; exit 2; }
ROUNDS=$1
shift
SECS=${PAIR_AB_SECONDS:-6}
OUT=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$OUT"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ { print $2 }' "$1"; }

one() { # NAME AGENT: prints "NAME traced untraced"
	local pa pb aport sa sb ag w1 w2
	pa=$(free_port)
	pb=$(free_port)
	aport=$(free_port)
	taskset -c 1 node bench/server.js none "$pa" "$(free_port)" >"$OUT/a" 2>&1 &
	sa=$!
	taskset -c 1 node bench/server.js none "$pb" "$(free_port)" >"$OUT/b" 2>&1 &
	sb=$!
	PIDS=("$sa" "$sb")
	for _ in $(seq 50); do grep -qs '^listening' "$OUT/a" && grep -qs '^listening' "$OUT/b" && break; sleep 0.1; done
	"$2" --pid "$sb" --listen "127.0.0.1:$aport" --feature-otel=true >"$OUT/agent" 2>&1 &
	ag=$!
	PIDS+=("$ag")
	for _ in $(seq 200); do curl -fs "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
	taskset -c 0 wrk -t1 -c16 -d1s "http://127.0.0.1:$pa/hello" >/dev/null &
	w1=$!
	taskset -c 0 wrk -t1 -c16 -d1s "http://127.0.0.1:$pb/hello" >/dev/null
	wait "$w1"
	taskset -c 0 wrk -t1 -c16 -d"${SECS}s" "http://127.0.0.1:$pa/hello" >"$OUT/wa" &
	w1=$!
	taskset -c 0 wrk -t1 -c16 -d"${SECS}s" "http://127.0.0.1:$pb/hello" >"$OUT/wb" &
	w2=$!
	wait "$w1" "$w2"
	kill "$ag" "$sa" "$sb" 2>/dev/null
	wait "$ag" "$sa" "$sb" 2>/dev/null
	PIDS=()
	echo "$1 $(rps "$OUT/wb") $(rps "$OUT/wa")"
}

for r in $(seq "$ROUNDS"); do
	for arg in "$@"; do
		one "${arg%%=*}" "${arg#*=}" >>"$OUT/runs"
	done
done
python3 - "$OUT/runs" "$@" <<'PY'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    name, b, a = line.split()
    runs.setdefault(name, []).append(float(b) / float(a))
for arg in sys.argv[2:]:
    v = runs.get(arg.split("=", 1)[0], [])
    if v:
        print(f"{arg.split('=', 1)[0]:10s} traced/untraced requests/s median {st.median(v):.3f} "
              f"({min(v):.3f}-{max(v):.3f}), {len(v)} rounds")
PY
