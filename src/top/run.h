/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otel-agent top: once the programs are attached, a table of the targets'
 * requests by method and route every interval, from the same snapshots the
 * endpoints render (aggregate_snapshot), on the terminal (screen.c), as
 * plain text or as JSON (format.c). It serves no endpoint.
 */
#ifndef OA_TOP_RUN_H
#define OA_TOP_RUN_H

#include <signal.h>
#include "cli.h"
#include "kernel/loader.h"
#include "metrics/aggregate.h"
#include "metrics/route.h"
#include "targets/resource.h"

struct top_ctx {
	struct loader *bpf;
	struct aggregator *agg;
	struct resource_cache *resources;
	const struct route_rules *rules;
	const struct top_opts *opts;
	const sigset_t *signals; /* blocked: SIGINT, SIGTERM, SIGQUIT and SIGHUP end top */
};

/*
 * Until q, a signal, or the first table with --once: interactive on a
 * terminal (stdin and stdout), else a plain table (or a JSON document) per
 * interval on stdout. Returns the exit code: 0, or 1 after saying why.
 */
int top_run(const struct top_ctx *x);

#endif /* OA_TOP_RUN_H */
