#!/usr/bin/env bash
# Measures what the DaemonSet's memory request and limit are set from: the
# agent in a memory cgroup of its own (as a container is), started as the
# DaemonSet starts it (--comm, the flag from the target's environment), then
# scraped under traffic. Prints, per run, the cgroup's peak (the start-up:
# the loading child, the verifier, the maps charged to the cgroup), its usage
# after traffic, and the agent's VmRSS and VmHWM; then the medians.
# Root; cgroup v2 (memory.peak) or v1 (memory.max_usage_in_bytes).
# Usage: deploy/kubernetes/measure-memory.sh [RUNS]   (default 5)
# Env: OTEL_AGENT (default ./otel-agent), PORT (core, default 18900).
set -euo pipefail

cd "$(dirname "$0")/../.."
RUNS=${1:-5}
AGENT=${OTEL_AGENT:-./otel-agent}
PORT=${PORT:-18900}
LISTEN=127.0.0.1:19464
TITLE=core
WORK=$(mktemp -d)
CG=
CORE_PID=
AGENT_PID=

die() {
	echo "measure-memory: $*" >&2
	exit 1
}

stop() {
	local pid
	for pid in $AGENT_PID $CORE_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	AGENT_PID= CORE_PID=
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null || true
	CG=
}
trap 'stop; rm -rf "$WORK"' EXIT

[ "$(id -u)" -eq 0 ] || die "needs root"
[ -x "$AGENT" ] || die "$AGENT not found; run make first"

if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
	CG_ROOT=/sys/fs/cgroup PEAK=memory.peak USAGE=memory.current
elif [ -d /sys/fs/cgroup/memory ]; then
	CG_ROOT=/sys/fs/cgroup/memory PEAK=memory.max_usage_in_bytes USAGE=memory.usage_in_bytes
else
	die "no memory cgroup controller found"
fi

kib() { echo $(($(cat "$1") / 1024)); }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

for run in $(seq "$RUNS"); do
	FEATURE_OTEL=true node tests/targets/titled.js "$PORT" "$TITLE" >"$WORK/core.out" 2>&1 &
	CORE_PID=$!
	for _ in $(seq 100); do
		grep -q '^listening' "$WORK/core.out" && break
		sleep 0.1
	done
	grep -q '^listening' "$WORK/core.out" || die "core did not start"

	CG=$CG_ROOT/otel-agent-measure-$$
	mkdir "$CG"
	# the agent is started from inside the cgroup, so its loading child is charged there too
	sh -c 'echo $$ >"$1/cgroup.procs"; exec "$2" --comm "$3" --listen "$4"' \
		sh "$CG" "$AGENT" "$TITLE" "$LISTEN" >"$WORK/agent.out" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 200); do
		curl -fsS "http://$LISTEN/healthz" 2>/dev/null | grep -q '^ok' && break
		kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 3 "$WORK/agent.out")"
		sleep 0.1
	done
	curl -fsS "http://$LISTEN/healthz" | grep -q '^ok' || die "agent not healthy: $(tail -n 3 "$WORK/agent.out")"
	# known routes of the demo core: 200s, ids made {id}, 500s
	curl -sS "http://127.0.0.1:$PORT/hello?n=[1-200]" >/dev/null
	curl -sS -X PUT "http://127.0.0.1:$PORT/items/[1-100]" >/dev/null
	curl -sS "http://127.0.0.1:$PORT/boom?n=[1-50]" >/dev/null
	for _ in $(seq 5); do
		curl -fsS -o /dev/null "http://$LISTEN/metrics/otel"
		curl -fsS -o /dev/null "http://$LISTEN/metrics"
	done
	peak=$(kib "$CG/$PEAK")
	usage=$(kib "$CG/$USAGE")
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$AGENT_PID/status")
	echo "run $run: cgroup peak $peak KiB, cgroup usage $usage KiB, agent VmRSS $rss KiB, VmHWM $hwm KiB"
	echo "$peak $usage $rss $hwm" >>"$WORK/runs"
	stop
done
for col in 1 2 3 4; do
	cut -d' ' -f"$col" "$WORK/runs" | median
done | paste -sd' ' | awk '{printf "median of %d: cgroup peak %d KiB, cgroup usage %d KiB, VmRSS %d KiB, VmHWM %d KiB\n", '"$RUNS"', $1, $2, $3, $4}'
