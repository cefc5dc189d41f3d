// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the table of `otel-agent top` (table.h): series of two snapshots
 * matched one to one, their differences summed into a row per method and
 * route, and the rows sorted and filtered for the view.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "top/quantile.h"
#include "top/table.h"

static const char *const column_names[TOP_COL_COUNT] = {
	[TOP_COL_RATE] = "req/s",  [TOP_COL_TOTAL] = "total",	[TOP_COL_4XX] = "4xx",
	[TOP_COL_5XX] = "5xx",	   [TOP_COL_ERRORS] = "errors", [TOP_COL_P50] = "p50",
	[TOP_COL_P90] = "p90",	   [TOP_COL_P99] = "p99",	[TOP_COL_ACTIVE] = "active",
	[TOP_COL_ROUTE] = "route",
};

const char *top_column_name(enum top_column c)
{
	return (unsigned int)c < TOP_COL_COUNT ? column_names[c] : NULL;
}

const char *top_row_route(const struct top_row *r)
{
	return r->overflow ? TOP_OVERFLOW_ROUTE : r->route;
}

/* What a row counts over the interval besides what it shows: its statuses and buckets. */
struct row_sums {
	__u64 n4xx, n5xx;
	__u64 buckets[OA_NR_BUCKETS];
};

/* Which row a series is summed into: every overflow series into one, whatever it holds. */
static int row_key_cmp(const struct oa_series *a, const struct oa_series *b)
{
	if (!a->overflow != !b->overflow)
		return a->overflow ? 1 : -1;
	if (a->overflow)
		return 0;
	if (series_method(a->method) != series_method(b->method))
		return series_method(a->method) < series_method(b->method) ? -1 : 1;
	return strncmp(a->route, b->route, OA_MAX_ROUTE);
}

static int cmp_row_key(const void *a, const void *b)
{
	return row_key_cmp(*(const struct oa_series *const *)a,
			   *(const struct oa_series *const *)b);
}

/* The same exported series (series_cmp): what a series is matched with in prev. */
static int cmp_exported(const void *a, const void *b)
{
	return series_cmp(*(const struct oa_series *const *)a, *(const struct oa_series *const *)b);
}

/* Pointers to series[0..n) sorted by cmp; *out NULL when n is 0. 0 or -ENOMEM. */
static int sorted_index(const struct oa_series *series, size_t n,
			int (*cmp)(const void *, const void *), const struct oa_series ***out)
{
	const struct oa_series **idx;

	*out = NULL;
	if (!n)
		return 0;
	idx = malloc(n * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		idx[i] = &series[i];
	qsort(idx, n, sizeof(*idx), cmp);
	*out = idx;
	return 0;
}

/*
 * What s counted since p, its state a snapshot before (NULL: it had none):
 * the count returned, the buckets in d. A count that went down means the
 * series started again: all of it is new.
 */
static __u64 series_delta(const struct oa_series *s, const struct oa_series *p, __u64 *d)
{
	bool whole = !p || p->stats.count > s->stats.count;

	for (int b = 0; b < OA_NR_BUCKETS; b++) {
		__u64 was = whole ? 0 : p->stats.buckets[b];

		d[b] = s->stats.buckets[b] > was ? s->stats.buckets[b] - was : 0;
	}
	return whole ? s->stats.count : s->stats.count - p->stats.count;
}

static void row_add_series(struct top_row *r, struct row_sums *sums, const struct oa_series *s,
			   const struct oa_series *p)
{
	__u64 d[OA_NR_BUCKETS];
	__u64 n = series_delta(s, p, d);

	r->total += s->stats.count;
	r->interval += n;
	if (s->error != OA_CONN_OK)
		r->errors += n;
	else if (s->status >= 400 && s->status <= 499)
		sums->n4xx += n;
	else if (s->status >= 500 && s->status <= 599)
		sums->n5xx += n;
	for (int b = 0; b < OA_NR_BUCKETS; b++)
		sums->buckets[b] += d[b];
}

static void row_add_sums(struct row_sums *dst, const struct row_sums *src)
{
	dst->n4xx += src->n4xx;
	dst->n5xx += src->n5xx;
	for (int b = 0; b < OA_NR_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
}

/* A row with nothing counted yet: shares and quantiles unknown. */
static void row_init(struct top_row *r, __u8 method, bool overflow, const char *route)
{
	size_t len = route ? strnlen(route, OA_MAX_ROUTE - 1) : 0;

	memset(r, 0, sizeof(*r));
	r->method = series_method(method);
	r->overflow = overflow;
	if (len)
		memcpy(r->route, route, len);
	r->share_4xx = r->share_5xx = NAN;
	r->p50 = r->p90 = r->p99 = NAN;
}

static double rate_of(__u64 n, double interval_s)
{
	return interval_s > 0 ? (double)n / interval_s : NAN;
}

/* The shown values of a row from its sums; nr_bounds of cur's bounds. */
static void row_finish(struct top_row *r, const struct row_sums *sums, const double *bounds,
		       unsigned int nr_bounds, double interval_s)
{
	r->rate = rate_of(r->interval, interval_s);
	if (r->interval) {
		r->share_4xx = (double)sums->n4xx / (double)r->interval;
		r->share_5xx = (double)sums->n5xx / (double)r->interval;
	}
	r->p50 = top_quantile(bounds, nr_bounds, sums->buckets, 0.5);
	r->p90 = top_quantile(bounds, nr_bounds, sums->buckets, 0.9);
	r->p99 = top_quantile(bounds, nr_bounds, sums->buckets, 0.99);
}

static bool snapshot_ok(const struct oa_snapshot *s)
{
	return s->nr_bounds <= OA_MAX_BOUNDS && (!s->nr_bounds || s->bounds) &&
	       (!s->nr_series || s->series);
}

int top_table_build(struct top_table *t, const struct oa_snapshot *prev,
		    const struct oa_snapshot *cur, double interval_s)
{
	const struct oa_series **rows_of = NULL, **in_prev = NULL;
	struct row_sums *sums = NULL, all_sums;
	size_t i, nr_rows = 0;
	int err;

	if (!t || !cur || !snapshot_ok(cur) || (prev && !snapshot_ok(prev)))
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->interval_s = interval_s;
	row_init(&t->all, OA_METHOD_OTHER, false, NULL);
	memset(&all_sums, 0, sizeof(all_sums));

	err = sorted_index(cur->series, cur->nr_series, cmp_row_key, &rows_of);
	if (!err && prev)
		err = sorted_index(prev->series, prev->nr_series, cmp_exported, &in_prev);
	if (err)
		goto cleanup;
	if (cur->nr_series) {
		t->rows = malloc(cur->nr_series * sizeof(*t->rows));
		sums = malloc(cur->nr_series * sizeof(*sums));
		if (!t->rows || !sums) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	/* rows_of holds each row's series next to each other */
	for (i = 0; i < cur->nr_series; i++) {
		const struct oa_series *s = rows_of[i], *const *p = NULL;

		if (!i || row_key_cmp(rows_of[i - 1], s)) {
			if (s->overflow)
				row_init(&t->rows[nr_rows], OA_METHOD_OTHER, true, NULL);
			else
				row_init(&t->rows[nr_rows], s->method, false, s->route);
			memset(&sums[nr_rows], 0, sizeof(sums[nr_rows]));
			nr_rows++;
		}
		if (in_prev)
			p = bsearch(&s, in_prev, prev->nr_series, sizeof(*in_prev), cmp_exported);
		row_add_series(&t->rows[nr_rows - 1], &sums[nr_rows - 1], s, p ? *p : NULL);
	}
	for (i = 0; i < nr_rows; i++) {
		row_finish(&t->rows[i], &sums[i], cur->bounds, cur->nr_bounds, interval_s);
		t->all.total += t->rows[i].total;
		t->all.interval += t->rows[i].interval;
		t->all.errors += t->rows[i].errors;
		row_add_sums(&all_sums, &sums[i]);
	}
	row_finish(&t->all, &all_sums, cur->bounds, cur->nr_bounds, interval_s);
	t->nr = nr_rows;
	err = 0;
cleanup:
	free(rows_of);
	free(in_prev);
	free(sums);
	if (err)
		top_table_free(t);
	return err;
}

int top_table_add_active(struct top_table *t, __u8 method, const char *route, __u64 n)
{
	struct top_row *rows;
	size_t i;

	if (!t)
		return -EINVAL;
	if (!route)
		route = "";
	method = series_method(method);
	for (i = 0; i < t->nr; i++)
		if (!t->rows[i].overflow && t->rows[i].method == method &&
		    !strncmp(t->rows[i].route, route, OA_MAX_ROUTE))
			break;
	if (i == t->nr) {
		rows = realloc(t->rows, (t->nr + 1) * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		t->rows = rows;
		row_init(&t->rows[i], method, false, route);
		t->rows[i].rate = rate_of(0, t->interval_s);
		t->nr++;
	}
	t->rows[i].active += n;
	t->all.active += n;
	return 0;
}

struct sort_by {
	enum top_column col;
	bool reverse;
};

/* The order of routes: by route, then method, the overflow row after all. */
static int cmp_names(const struct top_row *a, const struct top_row *b)
{
	int c;

	if (a->overflow != b->overflow)
		return a->overflow ? 1 : -1;
	c = strncmp(a->route, b->route, OA_MAX_ROUTE);
	if (c)
		return c;
	return a->method == b->method ? 0 : a->method < b->method ? -1 : 1;
}

/* Descending (ascending when reversed); NAN after any number either way. */
static int cmp_double(double a, double b, bool reverse)
{
	int c;

	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	c = a == b ? 0 : a > b ? -1 : 1;
	return reverse ? -c : c;
}

static int cmp_u64(__u64 a, __u64 b, bool reverse)
{
	int c = a == b ? 0 : a > b ? -1 : 1;

	return reverse ? -c : c;
}

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
	const struct top_row *a = pa, *b = pb;
	const struct sort_by *by = arg;
	bool rev = by->reverse;
	int c;

	switch (by->col) {
	case TOP_COL_RATE:
		c = cmp_double(a->rate, b->rate, rev);
		break;
	case TOP_COL_TOTAL:
		c = cmp_u64(a->total, b->total, rev);
		break;
	case TOP_COL_4XX:
		c = cmp_double(a->share_4xx, b->share_4xx, rev);
		break;
	case TOP_COL_5XX:
		c = cmp_double(a->share_5xx, b->share_5xx, rev);
		break;
	case TOP_COL_ERRORS:
		c = cmp_u64(a->errors, b->errors, rev);
		break;
	case TOP_COL_P50:
		c = cmp_double(a->p50, b->p50, rev);
		break;
	case TOP_COL_P90:
		c = cmp_double(a->p90, b->p90, rev);
		break;
	case TOP_COL_P99:
		c = cmp_double(a->p99, b->p99, rev);
		break;
	case TOP_COL_ACTIVE:
		c = cmp_u64(a->active, b->active, rev);
		break;
	default: /* TOP_COL_ROUTE, and anything unknown */
		c = cmp_names(a, b);
		return rev ? -c : c;
	}
	return c ? c : cmp_names(a, b);
}

void top_table_sort(struct top_table *t, enum top_column by, bool reverse)
{
	struct sort_by how = { .col = by, .reverse = reverse };

	if (t && t->nr > 1)
		qsort_r(t->rows, t->nr, sizeof(*t->rows), cmp_rows, &how);
}

void top_table_filter(struct top_table *t, const char *sub)
{
	size_t kept = 0;

	if (!t || !sub || !*sub)
		return;
	for (size_t i = 0; i < t->nr; i++) {
		if (!strstr(top_row_route(&t->rows[i]), sub))
			continue;
		if (kept != i)
			t->rows[kept] = t->rows[i];
		kept++;
	}
	t->nr = kept;
}

void top_table_free(struct top_table *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}
