// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns which series become one exported series (runs.h). The aggregator
 * merges series per route and target; a family that leaves out a label
 * (the plugin has no version, no status in its duration) sums the series
 * that differ only by it, here, per scrape.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "expose/runs.h"

/* series_cmp over an index of pointers. */
static int cmp_series(const void *pa, const void *pb)
{
	return series_cmp(*(const struct oa_series *const *)pa,
			  *(const struct oa_series *const *)pb);
}

int same_route(const struct oa_series *a, const struct oa_series *b)
{
	return series_method(a->method) == series_method(b->method) &&
	       strncmp(a->route, b->route, OA_MAX_ROUTE) == 0;
}

int same_status(const struct oa_series *a, const struct oa_series *b)
{
	return same_route(a, b) && a->status == b->status && a->error == b->error;
}

int same_labels_otel(const struct oa_series *a, const struct oa_series *b)
{
	return same_status(a, b) && series_version(a->version) == series_version(b->version);
}

bool keep_all(const struct oa_series *s)
{
	(void)s;
	return true;
}

bool keep_answered(const struct oa_series *s)
{
	return !s->error;
}

bool keep_failed(const struct oa_series *s)
{
	return s->error || s->status >= SERVER_ERROR_FROM;
}

int sort_series(const struct oa_snapshot *s, const struct oa_series ***sorted, size_t *nr_regular)
{
	const struct oa_series **v;
	size_t i;

	*sorted = NULL;
	*nr_regular = 0;
	if (!s->nr_series)
		return 0;
	v = calloc(s->nr_series, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < s->nr_series; i++)
		v[i] = &s->series[i];
	/* aggregate_series hands them over in this order already: check, not sort */
	for (i = 1; i < s->nr_series && cmp_series(&v[i - 1], &v[i]) <= 0; i++)
		;
	if (i < s->nr_series)
		qsort(v, s->nr_series, sizeof(*v), cmp_series);
	for (i = 0; i < s->nr_series && !v[i]->overflow; i++)
		;
	*nr_regular = i;
	*sorted = v;
	return 0;
}

size_t sum_run(const struct oa_series **v, size_t i, size_t n, same_fn same, bool answered_only,
	       struct oa_series *acc)
{
	size_t j;

	*acc = *v[i];
	if (answered_only && acc->error)
		memset(&acc->stats, 0, sizeof(acc->stats));
	for (j = i + 1; j < n && same(v[i], v[j]); j++) {
		if (answered_only && v[j]->error)
			continue;
		acc->error = OA_CONN_OK; /* the run has answered requests */
		http_stats_add(&acc->stats, &v[j]->stats);
	}
	return j;
}

/* Most runs have one series: copying each (a kilobyte) three times per scrape showed. */
const struct oa_series *run_of(const struct oa_series **v, size_t i, size_t n, same_fn same,
			       bool answered_only, struct oa_series *acc, size_t *next)
{
	if (i + 1 == n || !same(v[i], v[i + 1])) {
		*next = i + 1;
		if (!answered_only || !v[i]->error)
			return v[i];
	}
	*next = sum_run(v, i, n, same, answered_only, acc);
	return acc;
}

bool sum_overflow(const struct oa_series **v, size_t from, size_t n, keep_fn keep,
		  struct oa_series *acc)
{
	bool any = false;
	size_t i;

	memset(acc, 0, sizeof(*acc));
	acc->overflow = 1;
	for (i = from; i < n; i++) {
		if (!keep(v[i]))
			continue;
		http_stats_add(&acc->stats, &v[i]->stats);
		any = true;
	}
	return any;
}
