/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the table `otel-agent top` shows: one row per (method, route) from
 * two snapshots (the interval between them), its totals row, sorting by a
 * column and filtering by route. Formatting is top/format.h's.
 */
#ifndef OA_TOP_TABLE_H
#define OA_TOP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "metrics/series.h"

enum top_column {
	TOP_COL_RATE,
	TOP_COL_TOTAL,
	TOP_COL_4XX,
	TOP_COL_5XX,
	TOP_COL_ERRORS,
	TOP_COL_P50,
	TOP_COL_P90,
	TOP_COL_P99,
	TOP_COL_ACTIVE,
	TOP_COL_ROUTE,
	TOP_COL_COUNT
};

/* "req/s","total","4xx","5xx","errors","p50","p90","p99","active","route"; NULL past the last. */
const char *top_column_name(enum top_column c);

/* What the overflow row shows as its route. */
#define TOP_OVERFLOW_ROUTE "(overflow)"

struct top_row {
	__u8 method;   /* enum oa_method (otel_agent.h) */
	bool overflow; /* the overflow series (route shown as "(overflow)") */
	char route[OA_MAX_ROUTE];
	__u64 total;		     /* requests since start: answered, or ended by error */
	__u64 interval;		     /* of them, in the last interval */
	double rate;		     /* interval / interval_s (NAN when interval_s is not > 0) */
	double share_4xx, share_5xx; /* of the interval's requests, 0..1; NAN when interval == 0 */
	__u64 errors;		     /* interval requests ended by close or reset (no status) */
	double p50, p90, p99;	     /* seconds, over the interval's requests; NAN when none */
	__u64 active; /* requests waiting for their response now (set by the caller) */
};

struct top_table {
	struct top_row *rows;
	size_t nr;
	double interval_s;
	/* the totals row: every row summed (route "", method OA_METHOD_OTHER), quantiles over all */
	struct top_row all;
};

/* The route a row is shown, sorted and filtered by: TOP_OVERFLOW_ROUTE for the overflow row. */
const char *top_row_route(const struct top_row *r);

/*
 * Rows from the snapshot now (cur) and the one interval_s before (prev, NULL at
 * the first: then the interval is everything so far). A row per (method, route,
 * overflow) of cur's series (struct oa_series, summed over status, version and
 * error); the interval is cur minus prev for the same (method, route, overflow,
 * status, version, error) series (a series missing in prev counts whole; one
 * whose count went down in between, as after a restart, counts whole too).
 * Quantiles use cur's bounds. t is overwritten (top_table_free the last one
 * first); rows come in no set order (top_table_sort). 0 or -errno.
 */
int top_table_build(struct top_table *t, const struct oa_snapshot *prev,
		    const struct oa_snapshot *cur, double interval_s);

/*
 * Adds n active requests to the row of (method, route), creating the row (all zero,
 * quantiles NAN) if there is none; also to t->all. route NULL is "". 0 or -errno.
 */
int top_table_add_active(struct top_table *t, __u8 method, const char *route, __u64 n);

/*
 * Sorts rows by column, descending (route: ascending by route, then method); NAN last
 * (reversed too); ties by route then method, ascending. reverse flips the column's
 * order only. The overflow row sorts after every route of the same column value.
 */
void top_table_sort(struct top_table *t, enum top_column by, bool reverse);

/*
 * Keeps the rows whose route contains sub (NULL or "" keeps all); t->all is left alone.
 * The overflow row's route is taken as the "(overflow)" it is shown as.
 */
void top_table_filter(struct top_table *t, const char *sub);

/* Frees the rows and zeroes t; accepts NULL and a zeroed or freed t. */
void top_table_free(struct top_table *t);

#endif /* OA_TOP_TABLE_H */
