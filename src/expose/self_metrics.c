// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the agent's self-metrics (self_metrics.h): its version, how many
 * targets it measures, what the kernel side counted about its own work,
 * and what it could not count.
 */
#include "array.h"
#include "expose/self_metrics.h"

static const char *const map_names[OA_ERR_COUNT] = {
	[OA_ERR_CONNS] = "conns",
	[OA_ERR_SERIES] = "series",
	[OA_ERR_TARGETS] = "targets",
	[OA_ERR_REQS] = "reqs",
};

static const struct {
	const char *name;
	const char *help;
	enum oa_event ev;
} event_counters[] = {
	{ "otel_agent_requests_total", "HTTP request lines recognised.", OA_EV_REQUESTS },
	{ "otel_agent_responses_total", "HTTP final responses matched to a request.",
	  OA_EV_RESPONSES },
	{ "otel_agent_unmatched_responses_total", "HTTP status lines seen with no request waiting.",
	  OA_EV_UNMATCHED_RESPONSES },
	{ "otel_agent_requests_dropped_total",
	  "Requests not timed because the connection's pipeline queue was full.",
	  OA_EV_REQUESTS_DROPPED },
	{ "otel_agent_paths_truncated_total", "Request paths longer than the agent keeps.",
	  OA_EV_PATH_TRUNCATED },
	{ "otel_agent_not_http_connections_total",
	  "TCP connections of targets whose data was not HTTP/1.x.", OA_EV_NOT_HTTP },
	{ "otel_agent_upgraded_connections_total",
	  "Connections that switched protocol (101) and are no longer parsed.", OA_EV_UPGRADED },
	{ "otel_agent_connection_errors_total",
	  "Requests ended by a close or reset before their response.", OA_EV_CONN_ERRORS },
	{ "otel_agent_stale_connections_reclaimed_total",
	  "Connection state dropped because its fd was reused without a close seen.",
	  OA_EV_STALE_RECLAIMED },
	{ "otel_agent_targets_added_total",
	  "Processes the kernel side added as targets (forks, execs, renames, ports).",
	  OA_EV_TARGETS_ADDED },
	{ "otel_agent_series_capped_total",
	  "Requests the kernel counted in their target's overflow series: the target held its "
	  "cap of series (--max-series-per-target).",
	  OA_EV_SERIES_CAPPED },
	{ "otel_agent_series_spilled_total",
	  "Requests whose series found no room in the series map (full, or its allocator "
	  "empty for a moment): kept in the small preallocated spill map instead.",
	  OA_EV_SERIES_SPILLED },
	{ "otel_agent_framing_steps_exhausted_total",
	  "Syscalls whose data held more than the framing's steps could take (8192, or 1024 "
	  "with the compat programs): the rest was not framed, and the stream is picked up "
	  "again at a later message start.",
	  OA_EV_FRAME_STEPS_OUT },
	{ "otel_agent_syscall_args_missing_total",
	  "Syscalls of targets that moved data whose arguments the compat programs could not "
	  "find (under way as the agent attached, on a kernel whose stack layout it does not "
	  "know): their data was not seen.",
	  OA_EV_ARGS_MISSING },
};

void put_self_metrics(struct expo *e, const struct oa_snapshot *s)
{
	const struct labels none = { 0 };
	struct labels ls = { 0 };
	size_t i;

	put_family(e, "otel_agent_build_info", "info", NULL,
		   "The agent's version, and the build of its BPF programs loaded: current, or "
		   "compat on kernels before 5.17.");
	label(&ls, "version", s->version ? s->version : "unknown");
	if (s->programs)
		label(&ls, "bpf_programs", s->programs);
	put_sample(e, "otel_agent_build_info", &ls, "1");

	put_family(e, "otel_agent_targets", "gauge", NULL, "Processes the agent is measuring.");
	put_u64(e, "otel_agent_targets", &none, s->nr_targets);

	for (i = 0; i < ARRAY_SIZE(event_counters); i++) {
		put_family(e, event_counters[i].name, "counter", NULL, event_counters[i].help);
		put_u64(e, event_counters[i].name, &none, s->events[event_counters[i].ev]);
	}

	put_family(e, "otel_agent_series_overflowed_total", "counter", NULL,
		   "Requests counted in an otel_metric_overflow series: past the cardinality cap.");
	put_u64(e, "otel_agent_series_overflowed_total", &none, s->series_overflowed);
	put_family(e, "otel_agent_requests_ignored_total", "counter", NULL,
		   "Requests on routes that match an ignore pattern: in no series.");
	put_u64(e, "otel_agent_requests_ignored_total", &none, s->requests_ignored);

	put_family(e, "otel_agent_map_update_errors_total", "counter", NULL,
		   "Kernel map updates that failed, by map.");
	for (i = 0; i < OA_ERR_COUNT; i++) {
		ls.n = 0;
		label(&ls, "map", map_names[i]);
		put_u64(e, "otel_agent_map_update_errors_total", &ls, s->map_errors[i]);
	}
}
