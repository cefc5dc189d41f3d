#!/usr/bin/env bash
# One-command dev smoke (`sudo make smoke`): start the demo core with
# FEATURE_OTEL=true, attach ./otel-agent to it (flag read from the target's
# environment), drive a few requests, then print status code, first lines and
# the request series of /metrics and /metrics/otel, and the table
# `otel-agent top --once` shows for the same requests driven again.
# Env: PORT (core, default 8900), LISTEN (agent, default 127.0.0.1:9464),
#      OTEL_AGENT (agent binary, default ./otel-agent).
# Exits non-zero if either endpoint is not 200 or has no http series, or top
# shows no rows.
set -euo pipefail

cd "$(dirname "$0")/.."
PORT=${PORT:-8900}
LISTEN=${LISTEN:-127.0.0.1:9464}
AGENT=${OTEL_AGENT:-./otel-agent}
CORE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
CORE_PID=
AGENT_PID=
TOP_PID=

cleanup() {
	local pid
	for pid in $TOP_PID $AGENT_PID $CORE_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "smoke: $*" >&2
	exit 1
}

[ -x "$AGENT" ] || die "$AGENT not found or not executable; run make first"
[ "$(id -u)" -eq 0 ] || die "needs root to load BPF programs; run: sudo make smoke"

FEATURE_OTEL=true OTEL_SERVICE_NAME=core node tests/servers/core.js "$PORT" >"$WORK/core.out" 2>&1 &
CORE_PID=$!
for _ in $(seq 50); do
	grep -q '^listening' "$WORK/core.out" && break
	kill -0 "$CORE_PID" 2>/dev/null || die "core exited: $(cat "$WORK/core.out")"
	sleep 0.1
done
grep -q '^listening' "$WORK/core.out" || die "core did not start on port $PORT"
echo "core: pid $CORE_PID on $CORE (FEATURE_OTEL=true)"

"$AGENT" --pid "$CORE_PID" --listen "$LISTEN" >"$WORK/agent.out" 2>&1 &
AGENT_PID=$!
health=
for _ in $(seq 200); do
	kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 3 "$WORK/agent.out")"
	health=$(curl -fsS "http://$LISTEN/healthz" 2>/dev/null || true)
	case "$health" in
	ok* | disabled*) break ;;
	esac
	sleep 0.1
done
echo "agent: pid $AGENT_PID on http://$LISTEN, healthz: ${health:-no answer}"
case "$health" in
ok*) ;;
*) die "agent not healthy (healthz: ${health:-no answer}): $(tail -n 3 "$WORK/agent.out")" ;;
esac

traffic() {
	for _ in 1 2 3; do
		curl -fsS -o /dev/null "$CORE/hello?x=1"
	done
	curl -fsS -o /dev/null -X POST -d '{"name":"widget"}' "$CORE/items"
	curl -fsS -o /dev/null -X PUT -d '{"name":"gadget"}' "$CORE/items/42"
	curl -fsS -o /dev/null -X DELETE "$CORE/items/42"
	curl -sS -o /dev/null "$CORE/boom"
	curl -sS -o /dev/null "$CORE/nope"
	curl -fsS -o /dev/null "$CORE/slow"
}
traffic
sleep 0.5

fail=0
show() {
	local path=$1 series=$2 code
	code=$(curl -sS -o "$WORK/body" -w '%{http_code}' "http://$LISTEN$path" || echo 000)
	echo
	echo "== $path -> HTTP $code"
	head -n 15 "$WORK/body" || true
	echo "-- $series series:"
	if ! grep -E "^${series}[{ ]" "$WORK/body"; then
		echo "(none)"
		fail=1
	fi
	[ "$code" = 200 ] || fail=1
}
show /metrics http_requests_total
show /metrics/otel http_server_request_duration_seconds_count

# The same traffic again, seen by otel-agent top over a 3 s interval.
"$AGENT" top --pid "$CORE_PID" --once -d 3 >"$WORK/top.out" 2>"$WORK/top.err" &
TOP_PID=$!
for _ in $(seq 200); do
	grep -qs 'top: a table every' "$WORK/top.err" && break
	kill -0 "$TOP_PID" 2>/dev/null || break
	sleep 0.1
done
traffic
echo
echo "== otel-agent top --pid $CORE_PID --once -d 3"
if wait "$TOP_PID" && grep -q '/hello' "$WORK/top.out"; then
	cat "$WORK/top.out"
else
	echo "(top failed: $(tail -n 3 "$WORK/top.err"))"
	fail=1
fi

echo
if [ "$fail" -ne 0 ]; then
	echo "smoke: FAILED (an endpoint is not 200 or has no http series, or top showed no rows)"
	exit 1
fi
echo "smoke: OK"
