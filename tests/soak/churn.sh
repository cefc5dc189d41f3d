#!/usr/bin/env bash
# Churn run: a few minutes of what a long-running agent meets, with small
# kernel maps (--max-series 512 --max-series-per-target 50
# --max-connections 1024): a Node cluster recycling its workers every few
# requests, a path flood of 100x the series map against one process, a
# route first seen after the flood, and a --comm dev server restarted 20
# times. Then every count is compared with the client's, on both endpoints,
# and the kernel maps' entries (sampled throughout), the drop and error
# counters and the agent's memory are checked. Not part of `make test`.
# See docs/soak.md.
#
#   bash tests/soak/churn.sh                     # about 4 minutes (as root)
#   CHURN_SECONDS=20 bash tests/soak/churn.sh    # shorter worker recycling
#
# Env: CHURN_* (docs/soak.md), OTEL_AGENT (agent binary; if set, it is not
# built). Output: the table on stdout; everything of the run in
# .output/soak/churn-last/ (a link to .output/soak/churn-DATE/). Exit 0 if
# every check passed, 1 if one failed, 2 if the run could not be set up.
set -euo pipefail

cd "$(dirname "$0")/../.."
SOAK_NAME=churn
# shellcheck source=tests/soak/lib.sh
. tests/soak/lib.sh

[ "$(id -u)" -eq 0 ] || die "needs root to load BPF programs"
for tool in node python3 bpftool; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
RUN=$PWD/.output/soak/churn-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
ln -sfn "$(basename "$RUN")" .output/soak/churn-last
soak_agent "$RUN"
exec python3 tests/soak/churn.py --agent "$AGENT" "$RUN"
