#!/usr/bin/env bash
# Soak run: full load on this machine for SOAK_SECONDS (default 60), then an
# exact comparison of what the load generator sent and got back with what the
# agent counted. Not part of `make test`. See docs/soak.md.
#
#   bash tests/soak/run.sh                   # 60 s
#   SOAK_SECONDS=10 bash tests/soak/run.sh   # short variant
#
# Node (tests/servers/core.js) runs pinned to CPU 1, the load generator to
# CPU 0, the agent unpinned. Two load phases of SOAK_SECONDS/2 each with
# SOAK_CONNECTIONS concurrent connections: first a new TCP connection per
# request ("Connection: close"), then keep-alive with SOAK_KEEPALIVE requests
# per connection. Both endpoints are scraped after each phase (after
# SOAK_SETTLE seconds); /metrics and /metrics/otel are also scraped every
# 10 s during the load, and the agent's VmRSS sampled every 5 s.
#
# Env: SOAK_SECONDS (60), SOAK_CONNECTIONS (200), SOAK_KEEPALIVE (100),
#      SOAK_SETTLE (1), SOAK_DRAIN (10: loadgen's bound on waiting for the
#      last responses), SOAK_RSS_MARGIN_KIB (1024: allowed VmRSS growth
#      between the 10 s sample and the last), OTEL_AGENT (agent binary; if
#      set, it is not built).
# Output: the table on stdout; everything of the run in .output/soak/last/
# (a link to .output/soak/run-DATE/). Exit 0 if every count matches
# exactly, no drop or error counter is non-zero and memory stayed flat.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
SOAK_SECONDS=${SOAK_SECONDS:-60}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-200}
SOAK_KEEPALIVE=${SOAK_KEEPALIVE:-100}
SOAK_SETTLE=${SOAK_SETTLE:-1}
SOAK_DRAIN=${SOAK_DRAIN:-10}
SOAK_RSS_MARGIN_KIB=${SOAK_RSS_MARGIN_KIB:-1024}
LOADGEN=$REPO/.output/soak/loadgen
RUN=$REPO/.output/soak/run-$(date +%Y%m%d-%H%M%S)
CORE_PID=
AGENT_PID=
BG_PIDS=
# shellcheck source=tests/soak/lib.sh
. tests/soak/lib.sh

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local pid
	touch "$RUN/stop" 2>/dev/null || true
	for pid in $BG_PIDS; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for pid in $AGENT_PID $CORE_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "needs root to load BPF programs"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (node on CPU 1, loadgen on CPU 0)"
case "$SOAK_SECONDS" in
'' | *[!0-9]*) die "SOAK_SECONDS must be a whole number of seconds" ;;
esac
[ "$SOAK_SECONDS" -ge 4 ] || die "SOAK_SECONDS must be at least 4"
for tool in gcc node taskset curl python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

mkdir -p "$RUN"
ln -sfn "$(basename "$RUN")" "$REPO/.output/soak/last"

# -- build ---------------------------------------------------------------------
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror tests/soak/loadgen.c -o "$LOADGEN"
soak_agent "$RUN"

free_port() {
	python3 -c 'import sys; sys.path.insert(0, "tests"); from selftests.lib.procs import free_port; print(free_port())'
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
# Sleep until epoch-ms $1, in short steps so a stop file ends it soon.
sleep_until_ms() {
	local left
	while [ ! -e "$RUN/stop" ]; do
		left=$(($1 - $(now_ms)))
		[ "$left" -gt 0 ] || return 0
		[ "$left" -le 200 ] || left=200
		sleep "0.$(printf '%03d' "$left")"
	done
}
elapsed_s() { # seconds since T0_MS, one decimal
	local ms=$(($(now_ms) - T0_MS))
	printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

PORT=$(free_port)
APORT=$(free_port)
while [ "$APORT" = "$PORT" ]; do APORT=$(free_port); done
LISTEN=127.0.0.1:$APORT

# -- target and agent ------------------------------------------------------------
taskset -c 1 node tests/servers/core.js "$PORT" >"$RUN/core.out" 2>&1 &
CORE_PID=$!
for _ in $(seq 100); do
	grep -q '^listening' "$RUN/core.out" && break
	kill -0 "$CORE_PID" 2>/dev/null || die "core.js exited: $(cat "$RUN/core.out")"
	sleep 0.1
done
grep -q '^listening' "$RUN/core.out" || die "core.js did not start on port $PORT"

"$AGENT" --pid "$CORE_PID" --listen "$LISTEN" --feature-otel=true >"$RUN/agent.log" 2>&1 &
AGENT_PID=$!
health=
for _ in $(seq 200); do
	kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 3 "$RUN/agent.log")"
	health=$(curl -sS --max-time 1 "http://$LISTEN/healthz" 2>/dev/null || true)
	case "$health" in ok*) break ;; esac
	sleep 0.1
done
case "$health" in
ok*) ;;
*) die "agent not healthy (healthz: ${health:-no answer}): $(tail -n 3 "$RUN/agent.log")" ;;
esac

P1=$((SOAK_SECONDS / 2))
P2=$((SOAK_SECONDS - P1))
{
	echo "DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "KERNEL=$(uname -r)"
	echo "NPROC=$(nproc)"
	echo "CLK_TCK=$(getconf CLK_TCK)"
	echo "CORE_PID=$CORE_PID"
	echo "CORE_PORT=$PORT"
	echo "AGENT_PID=$AGENT_PID"
	echo "AGENT_LISTEN=$LISTEN"
	echo "AGENT_VERSION=$("$AGENT" --version 2>&1 | head -n 1)"
	echo "SOAK_SECONDS=$SOAK_SECONDS"
	echo "SOAK_CONNECTIONS=$SOAK_CONNECTIONS"
	echo "SOAK_KEEPALIVE=$SOAK_KEEPALIVE"
	# Other load on the machine skews the rates (not the counts): say so.
	echo "OTHER_AGENTS=$(pgrep -x otel-agent | grep -cvx "$AGENT_PID" || true)"
	echo "LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN/run.env"
echo "soak: node pid $CORE_PID on 127.0.0.1:$PORT (CPU 1), agent pid $AGENT_PID on $LISTEN;" \
	"${P1} s new connection per request + ${P2} s keep-alive (${SOAK_KEEPALIVE}/conn)," \
	"$SOAK_CONNECTIONS connections; run directory $RUN"

# One scrape of each endpoint before the load, as Prometheus would have done
# long before: the agent's first-scrape allocations (rendering, gzip) are
# then in every RSS sample, and growth means growth under load.
for ep in /metrics /metrics/otel; do
	curl -fsS --max-time 10 -o /dev/null -H 'Accept-Encoding: gzip' "http://$LISTEN$ep" ||
		die "warm-up scrape of $ep failed"
done

# -- samplers ----------------------------------------------------------------------
T0_MS=$(now_ms)
rss_sample() { # t, VmRSS KiB, utime+stime ticks
	local rss ticks
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status" 2>/dev/null || true)
	ticks=$(awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat" 2>/dev/null || true)
	printf '%s\t%s\t%s\n' "$(elapsed_s)" "${rss:-}" "${ticks:-}"
}
(
	i=0
	while [ ! -e "$RUN/stop" ]; do
		rss_sample
		i=$((i + 1))
		sleep_until_ms $((T0_MS + i * 5000))
	done
) >"$RUN/rss.tsv" &
BG_PIDS="$BG_PIDS $!"
(
	i=1
	while :; do
		sleep_until_ms $((T0_MS + i * 10000))
		[ ! -e "$RUN/stop" ] || break
		for ep in /metrics /metrics/otel; do
			res=$(curl -s -o /dev/null -H 'Accept-Encoding: gzip' --max-time 5 \
				-w '%{http_code}\t%{time_total}' "http://$LISTEN$ep" || true)
			printf '%s\t%s\t%s\n' "$(elapsed_s)" "$ep" "${res:-000	5}"
		done
		i=$((i + 1))
	done
) >"$RUN/scrapes.tsv" &
BG_PIDS="$BG_PIDS $!"

scrape_both() { # $1: file prefix
	curl -fsS --max-time 10 -o "$RUN/$1.metrics" "http://$LISTEN/metrics" ||
		die "scrape /metrics ($1) failed"
	curl -fsS --max-time 10 -o "$RUN/$1.otel" "http://$LISTEN/metrics/otel" ||
		die "scrape /metrics/otel ($1) failed"
}

# -- load ----------------------------------------------------------------------------
lg_rc=0
echo "soak: phase 1: ${P1} s, a new connection per request"
taskset -c 0 "$LOADGEN" --duration "$P1" --connections "$SOAK_CONNECTIONS" \
	--requests-per-conn 1 --drain-timeout "$SOAK_DRAIN" --progress 10 \
	--output "$RUN/phase1.json" "127.0.0.1:$PORT" || lg_rc=$?
[ -s "$RUN/phase1.json" ] || die "loadgen phase 1 wrote no summary (exit $lg_rc)"
sleep "$SOAK_SETTLE"
scrape_both phase1

echo "soak: phase 2: ${P2} s, keep-alive, $SOAK_KEEPALIVE requests per connection"
taskset -c 0 "$LOADGEN" --duration "$P2" --connections "$SOAK_CONNECTIONS" \
	--requests-per-conn "$SOAK_KEEPALIVE" --drain-timeout "$SOAK_DRAIN" --progress 10 \
	--output "$RUN/phase2.json" "127.0.0.1:$PORT" || lg_rc=$?
[ -s "$RUN/phase2.json" ] || die "loadgen phase 2 wrote no summary (exit $lg_rc)"
sleep "$SOAK_SETTLE"
scrape_both final

# Stop the samplers, then one last RSS sample after the final scrape.
touch "$RUN/stop"
for pid in $BG_PIDS; do wait "$pid" 2>/dev/null || true; done
BG_PIDS=
rss_sample >>"$RUN/rss.tsv"

# Entries left in the agent's kernel hash maps (connection state) now that
# every connection is closed: a leak would show here before it fills a map.
python3 tests/soak/kmaps.py --skip targets "$AGENT_PID" >"$RUN/maps.tsv" 2>/dev/null || true

rc=0
python3 tests/soak/compare.py --rss-margin-kib "$SOAK_RSS_MARGIN_KIB" "$RUN" || rc=$?
exit "$rc"
