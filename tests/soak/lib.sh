# shellcheck shell=bash
# Shared by the soak scripts (run.sh, churn.sh); sourced, from the repo root.
# SOAK_NAME names the script in messages.

die() {
	echo "${SOAK_NAME:-soak}: $*" >&2
	exit 2
}

# Sets AGENT: $OTEL_AGENT if set (not built), else ./otel-agent built with
# make (its log in $1/build.log).
soak_agent() {
	if [ -n "${OTEL_AGENT:-}" ]; then
		AGENT=$OTEL_AGENT
	else
		make --no-print-directory otel-agent >"$1/build.log" 2>&1 ||
			die "make otel-agent failed: $(tail -n 5 "$1/build.log")"
		AGENT=$PWD/otel-agent
	fi
	[ -x "$AGENT" ] || die "$AGENT not executable"
}
