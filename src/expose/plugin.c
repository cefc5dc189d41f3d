// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns /metrics (render_plugin, render.h): the families the old prom-client
 * plugin exported, under its names and labels, then the self-metrics.
 * Always Prometheus text: dashboards and alerts were written against it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "expose/expo.h"
#include "expose/render.h"
#include "expose/runs.h"
#include "expose/self_metrics.h"
#include "metrics/buckets.h"

/* Adds a family's label after method and path (status is scratch space for its text). */
typedef void (*label_fn)(struct labels *ls, const struct oa_series *acc, char status[NUM_LEN]);

static void status_label(struct labels *ls, const struct oa_series *acc, char status[NUM_LEN])
{
	label(ls, "status", number_value(status, acc->status));
}

/* How a request failed: its status, or how its connection ended. */
static void error_type_label(struct labels *ls, const struct oa_series *acc, char status[NUM_LEN])
{
	label(ls, "errorType",
	      acc->error ? conn_error_name(acc->error) : number_value(status, acc->status));
}

enum plugin_kind {
	PLUGIN_COUNTER, /* of requests */
	/*
	 * a histogram of the durations of answered requests only: prom-client
	 * observed a duration when the response was sent
	 */
	PLUGIN_DURATIONS,
};

/*
 * One plugin family: which series it sums into one (same), which sums and
 * overflow series it writes (keep), and its label after method and path
 * (NULL: none).
 */
struct plugin_family {
	const char *name;
	const char *help;
	enum plugin_kind kind;
	same_fn same;
	keep_fn keep;
	label_fn last_label;
};

/* Version is not a plugin label: series differing only by it are summed. */
static const struct plugin_family families[] = {
	/* requests without a status are counted in http_request_errors_total only */
	{ "http_requests_total", "Total number of HTTP requests", PLUGIN_COUNTER, same_status,
	  keep_answered, status_label },
	{ "http_request_duration_seconds", "Duration of HTTP requests in seconds", PLUGIN_DURATIONS,
	  same_route, keep_answered, NULL },
	{ "http_request_errors_total", "Total number of HTTP requests that failed", PLUGIN_COUNTER,
	  same_status, keep_failed, error_type_label },
};

/* One sample (a count) or histogram of family f. */
static void put_value(struct expo *e, const struct plugin_family *f, const struct labels *ls,
		      const struct hist_layout *h, const struct oa_series *acc)
{
	struct label_text lt;

	if (f->kind == PLUGIN_COUNTER) {
		put_u64(e, f->name, ls, acc->stats.count);
		return;
	}
	lt = escape_labels(e, ls);
	put_histogram(e, f->name, &lt, h, &acc->stats);
}

/* Family f: a sample per route (and last label), then the overflow one. */
static void put_plugin_family(struct expo *e, const struct plugin_family *f,
			      const struct oa_series **v, size_t nr_regular, size_t n,
			      const struct hist_layout *h)
{
	struct oa_series acc;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next;

	if (f->kind == PLUGIN_COUNTER)
		put_family(e, f->name, "counter", NULL, f->help);
	else
		put_family(e, f->name, "histogram", "seconds", f->help);
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, f->same, f->kind == PLUGIN_DURATIONS, &acc);
		if (!f->keep(&acc))
			continue;
		ls.n = 0;
		label(&ls, "method", method_name(acc.method));
		label_n(&ls, "path", acc.route, strnlen(acc.route, OA_MAX_ROUTE));
		if (f->last_label)
			f->last_label(&ls, &acc, status);
		put_value(e, f, &ls, h, &acc);
	}
	if (sum_overflow(v, nr_regular, n, f->keep, &acc)) {
		overflow_labels(&ls);
		put_value(e, f, &ls, h, &acc);
	}
}

int render_plugin(const struct oa_snapshot *s, FILE *out)
{
	const struct oa_series **v;
	struct hist_layout h;
	struct expo e;
	size_t i, nr_regular;
	int err;

	err = layout_init(&h, s, out, OA_FORMAT_PROMETHEUS, buckets_plugin.bounds,
			  buckets_plugin.nr);
	if (err)
		return err;
	err = sort_series(s, &v, &nr_regular);
	if (err)
		return err;
	err = expo_init(&e, OA_FORMAT_PROMETHEUS, out);
	if (err)
		goto cleanup;
	for (i = 0; i < ARRAY_SIZE(families); i++)
		put_plugin_family(&e, &families[i], v, nr_regular, s->nr_series, &h);
	put_self_metrics(&e, s);
	err = expo_finish(&e);
cleanup:
	free(v);
	return err;
}
