#!/usr/bin/env bash
# make bench: overhead of otel-agent against the alternatives, on this machine.
# See docs/benchmarks.md. Needs root, 2+ CPUs. Writes docs/benchmarks.md and
# keeps everything of the run in .output/bench/last/.
#
# Env: BENCH_RUNS (5 rounds; each round runs every variant once, in turn),
#      BENCH_SECONDS (8: wrk duration per run), BENCH_CONNECTIONS (32),
#      BENCH_LOW_CONNECTIONS (1: the second load level for the agent-CPU check),
#      BENCH_SKIP_SOAK (unset: run a 10 s soak for exact accuracy),
#      BENCH_DOC (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECONDS:-8}
CONNS=${BENCH_CONNECTIONS:-32}
LOWC=${BENCH_LOW_CONNECTIONS:-1}
DOC=${BENCH_DOC:-docs/benchmarks.md}
OUT=$REPO/.output/bench/run-$(date +%Y%m%d-%H%M%S)
T_START=$(date +%s)
SRV_PID= AGENT_PID= BT_PID= SCR_PID= PERF_PID=

die() { echo "bench: $*" >&2; exit 2; }
cleanup() {
	local p
	for p in $SCR_PID $BT_PID $AGENT_PID $SRV_PID; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -z "${OLD_STATS:-}" ] || sysctl -q kernel.bpf_stats_enabled="$OLD_STATS" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "needs root"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (wrk on CPU 0, node on CPU 1)"

# -- dependencies ------------------------------------------------------------------
missing=
for t in wrk bpftrace bpftool curl taskset python3 gcc perf; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	pk=$(echo "$missing" | sed 's/taskset/util-linux/; s/perf/linux-perf/')
	echo "bench: apt-get install$pk"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pk >/dev/null ||
		die "apt-get install$pk failed"
fi
if [ ! -d bench/node_modules/prom-client ] || [ ! -d bench/node_modules/@opentelemetry/exporter-prometheus ]; then
	echo "bench: npm install (bench/package.json)"
	npm install --prefix bench --no-audit --no-fund --loglevel=error >/dev/null || die "npm install failed"
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
make --no-print-directory otel-agent >/dev/null || die "make otel-agent failed"
AGENT=$REPO/otel-agent

mkdir -p "$OUT"
ln -sfn "$(basename "$OUT")" "$REPO/.output/bench/last"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# The peak RSS from now on: clear_refs 5 resets VmHWM to the current RSS.
reset_hwm() { echo 5 >"/proc/$1/clear_refs"; }
metric() { # $1 url, $2 metric name (no labels): its value
	curl -fsS --max-time 10 "$1" | awk -v m="$2" '$1 == m { print $2 }'
}

# start_server NAME(none|promclient|otelsdk) FILE-PREFIX: sets SRV_PID SRV_PORT MPORT
start_server() {
	SRV_PORT=$(free_port)
	MPORT=$(free_port)
	taskset -c 1 node bench/server.js "$1" "$SRV_PORT" "$MPORT" >"$2.server" 2>&1 &
	SRV_PID=$!
	for _ in $(seq 100); do
		grep -q '^listening' "$2.server" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || die "server $1 exited: $(cat "$2.server")"
		sleep 0.1
	done
	die "server $1 did not start"
}
# start_agent FILE-PREFIX [extra args]: sets AGENT_PID APORT
start_agent() {
	local f=$1
	shift
	APORT=$(free_port)
	"$AGENT" --pid "$SRV_PID" --listen "127.0.0.1:$APORT" --feature-otel=true "$@" >"$f.agent" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 200); do
		case "$(curl -sS --max-time 1 "http://127.0.0.1:$APORT/healthz" 2>/dev/null || true)" in
		ok*) return 0 ;;
		esac
		kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -n 3 "$f.agent")"
		sleep 0.1
	done
	die "agent not healthy"
}
# scraper URL...: scrape now and every 10 s, as Prometheus would (background)
start_scraper() {
	local f=$1
	shift
	(
		while :; do
			for u in "$@"; do
				curl -s -o /dev/null -H 'Accept-Encoding: gzip' --max-time 5 \
					-w "%{http_code}\t%{time_total}\t$u\n" "$u" || true
			done
			sleep 10
		done
	) >"$f.scrapes" 2>&1 &
	SCR_PID=$!
}
stop_all() {
	local p
	for p in $SCR_PID $BT_PID $AGENT_PID $SRV_PID; do
		if [ "$p" = "$BT_PID" ]; then kill -INT "$p" 2>/dev/null || true; else kill "$p" 2>/dev/null || true; fi
		wait "$p" 2>/dev/null || true
	done
	SCR_PID= BT_PID= AGENT_PID= SRV_PID=
}
wrk_run() { # $1 prefix, $2 connections, $3 seconds
	taskset -c 0 wrk -t1 -c"$2" -d"$3"s --latency "http://127.0.0.1:$SRV_PORT/hello" >"$1"
}

# one_run VARIANT(a..e) PREFIX [connections]
one_run() {
	local v=$1 f=$2 c=${3:-$CONNS} t0 t1
	case $v in
	a | b | e | f) start_server none "$f" ;;
	c) start_server promclient "$f" ;;
	d) start_server otelsdk "$f" ;;
	esac
	case $v in
	b)
		start_agent "$f"
		start_scraper "$f" "http://127.0.0.1:$APORT/metrics" "http://127.0.0.1:$APORT/metrics/otel"
		;;
	c) start_scraper "$f" "http://127.0.0.1:$SRV_PORT/metrics" ;;
	d) start_scraper "$f" "http://127.0.0.1:$MPORT/metrics" ;;
	e | f)
		bt=bench/bpftrace.bt
		[ "$v" = e ] || bt=bench/floor.bt
		bpftrace "$bt" "$SRV_PID" >"$f.bpftrace" 2>&1 &
		BT_PID=$!
		for _ in $(seq 300); do
			grep -q '^Attaching' "$f.bpftrace" && break
			kill -0 "$BT_PID" 2>/dev/null || die "bpftrace exited: $(cat "$f.bpftrace")"
			sleep 0.1
		done
		sleep 0.5
		;;
	esac
	wrk_run "$f.warmup" "$c" 1
	if [ "$v" = b ]; then
		t0=$(ticks "$AGENT_PID")
		hwm0=$(hwm "$AGENT_PID")
		reset_hwm "$AGENT_PID"
	fi
	if [ "${PROFILE:-}" = 1 ]; then
		perf record -q -o "$f.perf.data" -C 1 -g -- sleep "$((SECS - 2))" >/dev/null 2>&1 &
		PERF_PID=$!
	fi
	if [ "${STATS:-}" = 1 ]; then
		OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
		sysctl -q kernel.bpf_stats_enabled=1
	fi
	wrk_run "$f.wrk" "$c" "$SECS"
	if [ -n "${PERF_PID:-}" ]; then
		wait "$PERF_PID" || true
		PERF_PID=
		perf script -i "$f.perf.data" -F ip,sym,dso 2>/dev/null | python3 bench/profile.py >"$f.profile"
		rm -f "$f.perf.data"
	fi
	if [ "${STATS:-}" = 1 ]; then
		bpftool -j prog show >"$f.progs.json"
		sysctl -q kernel.bpf_stats_enabled="$OLD_STATS"
		OLD_STATS=
		# which programs are this run's: bpftrace holds its perf events (and says on which
		# tracepoint); the agent holds links, whose fdinfo names their program
		bpftool -j perf show >"$f.perf.json"
		echo "${AGENT_PID:-$BT_PID}" >"$f.holder"
		[ -z "$AGENT_PID" ] || grep -h '^prog_id:' /proc/"$AGENT_PID"/fdinfo/* 2>/dev/null |
			awk '{ print $2 }' | sort -u >"$f.progids"
	fi
	if [ "$v" = b ]; then
		t1=$(ticks "$AGENT_PID")
		sleep 1
		{
			echo "ticks0 $t0"
			echo "ticks1 $t1"
			echo "clk_tck $(getconf CLK_TCK)"
			echo "hwm_start_kib $hwm0"
			echo "hwm_kib $(hwm "$AGENT_PID")"
			echo "agent_requests $(metric "http://127.0.0.1:$APORT/metrics/otel" otel_agent_requests_total)"
			echo "agent_responses $(metric "http://127.0.0.1:$APORT/metrics/otel" otel_agent_responses_total)"
			echo "agent_dropped $(metric "http://127.0.0.1:$APORT/metrics/otel" otel_agent_requests_dropped_total)"
			echo "agent_pid $AGENT_PID"
		} >"$f.agentstats"
	fi
	stop_all
}

{
	echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "nproc $(nproc)"
	echo "kernel $(uname -r)"
	echo "cpu $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "node $(node -v)"
	echo "wrk $(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')"
	echo "bpftrace $(bpftrace --version 2>&1 | head -n 1)"
	echo "agent $("$AGENT" --version 2>&1 | head -n 1)"
	echo "runs $RUNS"
	echo "seconds $SECS"
	echo "connections $CONNS"
	echo "low_connections $LOWC"
	echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "vmlinux_btf_bytes $(stat -c %s /sys/kernel/btf/vmlinux)"
	echo "npm $(cd bench && node -e 'const p=require("./package.json").dependencies; console.log(Object.entries(p).map(([k,v])=>k+"@"+v).join(" "))')"
} >"$OUT/env"

# -- 1. the variants, alternating -----------------------------------------------------
for r in $(seq "$RUNS"); do
	for v in a b c d e f; do
		echo "bench: round $r/$RUNS variant $v"
		one_run "$v" "$OUT/r$r-$v"
	done
done

# -- 2. BPF cost per program: one (b) run with bpf_stats on -------------------------------
echo "bench: BPF cost (bpf_stats on for one run of (b), (e) and (f))"
STATS=1 one_run b "$OUT/stats-b"
STATS=1 one_run e "$OUT/stats-e"
STATS=1 one_run f "$OUT/stats-f"

# -- 2a. wall-clock ns per syscall: untargeted, a target's file writes, and the designs not taken ---
echo "bench: cost per syscall (bench/syscall_cost.sh)"
bench/syscall_cost.sh "${BENCH_SYSCALL_ROUNDS:-5}" "$AGENT" "$OUT/syscall_cost.runs" >"$OUT/syscall_cost.out" 2>&1 ||
	echo "bench: syscall_cost.sh failed (see $OUT/syscall_cost.out)"

# -- 2b. where node's CPU goes with the agent attached: perf on node's CPU, one (b) and one (a) run -----
echo "bench: profiles of node's CPU (perf, one (a) and one (b) run)"
PROFILE=1 one_run a "$OUT/prof-a"
PROFILE=1 one_run b "$OUT/prof-b"

# -- 3. agent CPU at a second load level --------------------------------------------------
echo "bench: agent CPU at $LOWC connection(s)"
one_run b "$OUT/low-b" "$LOWC"

# -- 4. /metrics/otel render time with 100, 2000, 20000 series ------------------------------
echo "bench: render time"
f=$OUT/render
start_server none "$f"
start_agent "$f" --max-series 65536 --max-series-per-target 30000
prev=0
for n in 100 2000 20000; do
	node bench/routes.js "$SRV_PORT" "$prev" "$n" >>"$f.routes" || die "routes.js failed"
	prev=$n
	sleep 1
	series=$(curl -fsS "http://127.0.0.1:$APORT/metrics/otel" | grep -c '^http_server_request_duration_seconds_count{' || true)
	for i in $(seq 9); do
		printf '%s\t%s\tplain\t%s\n' "$n" "$series" "$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$APORT/metrics/otel")"
		printf '%s\t%s\tgzip\t%s\n' "$n" "$series" "$(curl -fsS -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total}' "http://127.0.0.1:$APORT/metrics/otel")"
	done >>"$f.tsv"
	echo "$n $(curl -fsS -o /dev/null -w '%{size_download}' "http://127.0.0.1:$APORT/metrics/otel")" >>"$f.sizes"
	if [ "$n" = 2000 ]; then
		# the same bytes served from memory: what moving them costs, nothing rendered
		curl -fsS -o "$f.body2000" "http://127.0.0.1:$APORT/metrics/otel"
		python3 bench/static_body.py "$f.body2000" >"$f.static" 2>&1 &
		ST_PID=$!
		for _ in $(seq 50); do grep -q '^listening' "$f.static" && break; sleep 0.1; done
		sport=$(awk '/^listening/ { print $2 }' "$f.static")
		for i in $(seq 9); do
			printf '%s\t%s\tstatic\t%s\n' "$n" "$series" "$(curl -fsS -o /dev/null -w '%{time_total}' "http://127.0.0.1:$sport/")"
		done >>"$f.tsv"
		kill "$ST_PID" 2>/dev/null || true
		wait "$ST_PID" 2>/dev/null || true
		rm -f "$f.body2000"
	fi
done
echo "hwm_kib $(hwm "$AGENT_PID")" >"$f.agentstats"
stop_all

# -- 5. exact accuracy: the soak's load generator, 10 s ---------------------------------------
if [ -z "${BENCH_SKIP_SOAK:-}" ]; then
	echo "bench: accuracy (SOAK_SECONDS=10 tests/soak/run.sh)"
	rc=0
	SOAK_SECONDS=10 OTEL_AGENT=$AGENT bash tests/soak/run.sh >"$OUT/soak.out" 2>&1 || rc=$?
	echo "$rc" >"$OUT/soak.rc"
fi

echo "elapsed $(($(date +%s) - T_START))" >>"$OUT/env"
python3 bench/report.py "$OUT" >"$DOC"
echo "bench: wrote $DOC (run directory $OUT)"
cat "$DOC"
