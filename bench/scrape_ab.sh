#!/bin/bash
# Scrape time of /metrics/otel for agents side by side, on the same series:
# one node server (bench/server.js, CPU 1) gets N distinct routes
# (bench/routes.js), every agent given is attached to it at once, and each
# round scrapes every agent plain and with gzip in turn, then the same plain
# bytes served from memory (bench/static_body.py, the transfer floor). Taking
# turns within a round is what makes two builds comparable on a shared,
# noisy machine: both see the same load. Prints medians and minimums in ms.
#
# Usage (root, from the repository): bench/scrape_ab.sh N ROUNDS NAME=AGENT...
#   e.g. bench/scrape_ab.sh 2000 15 before=/tmp/otel-agent.old after=./otel-agent
set -u
[ $# -ge 3 ] || { sed -n '2,13p' "$0"; exit 2; }
N=$1 ROUNDS=$2
shift 2
OUT=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$OUT"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # file pattern
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "scrape_ab: no '$2' in $1" >&2
	exit 1
}
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

SP=$(free_port)
taskset -c 1 node bench/server.js none "$SP" "$(free_port)" >"$OUT/server" 2>&1 &
PIDS+=($!)
SRV=$!
wait_for "$OUT/server" '^listening'
names=() ports=()
for a in "$@"; do
	name=${a%%=*} bin=${a#*=} p=$(free_port)
	"$bin" --pid "$SRV" --listen "127.0.0.1:$p" --feature-otel=true --max-series 65536 \
		--max-series-per-target 30000 >"$OUT/$name.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 200); do
		curl -fsS --max-time 1 "http://127.0.0.1:$p/healthz" 2>/dev/null | grep -q ok && break
		sleep 0.1
	done
	names+=("$name") ports+=("$p")
done
node bench/routes.js "$SP" 0 "$N" >/dev/null || exit 1
sleep 1
for i in "${!names[@]}"; do
	u=http://127.0.0.1:${ports[$i]}/metrics/otel
	curl -fsS "$u" -o "$OUT/${names[$i]}.body"
	echo "${names[$i]}: $(grep -c '^http_server_request_duration_seconds_count{' "$OUT/${names[$i]}.body") series," \
		"$(stat -c %s "$OUT/${names[$i]}.body") bytes plain," \
		"$(curl -fsS -H 'Accept-Encoding: gzip' "$u" | wc -c) gzip"
done
python3 bench/static_body.py "$OUT/${names[0]}.body" >"$OUT/static" 2>&1 &
PIDS+=($!)
wait_for "$OUT/static" '^listening'
sport=$(awk '/^listening/ { print $2 }' "$OUT/static")
t() { curl -fsS -o /dev/null -w '%{time_total}' "$@"; }
for _ in $(seq "$ROUNDS"); do
	for i in "${!names[@]}"; do
		u=http://127.0.0.1:${ports[$i]}/metrics/otel
		echo "${names[$i]} plain $(t "$u")"
		echo "${names[$i]} gzip $(t -H 'Accept-Encoding: gzip' "$u")"
	done
	echo "static plain $(t "http://127.0.0.1:$sport/")"
done >"$OUT/times"
python3 - "$OUT/times" <<'EOF'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, kind, s = line.split()
    d[(name, kind)].append(float(s) * 1000)
for (name, kind), v in d.items():
    print(f"{name:10s} {kind:5s} median {statistics.median(v):7.2f} ms  min {min(v):7.2f}  max {max(v):7.2f}")
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
