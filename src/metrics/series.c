// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every user of a series agrees on: the order series are exported in,
 * and the arithmetic on their counts (shared by server and client series):
 * adding, summing over CPUs, merging equal series.
 */
#include <stdlib.h>
#include <string.h>
#include "metrics/series.h"

static void size_hist_add(struct size_hist *dst, const struct size_hist *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	for (int b = 0; b < OA_NR_SIZE_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
}

void http_stats_add(struct http_stats *dst, const struct http_stats *src)
{
	/* the earliest time either was first seen: 0 is "not known" (other CPUs) */
	if (src->first_ns && (!dst->first_ns || src->first_ns < dst->first_ns))
		dst->first_ns = src->first_ns;
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	for (int b = 0; b < OA_NR_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	size_hist_add(&dst->req_body, &src->req_body);
	size_hist_add(&dst->resp_body, &src->resp_body);
}

void http_stats_sum_cpus(struct http_stats *dst, const struct http_stats *percpu, int nr_cpus)
{
	/* the first CPU's copied, not added to zeros: a pass less over 568 bytes per series */
	if (nr_cpus < 1) {
		memset(dst, 0, sizeof(*dst));
		return;
	}
	*dst = percpu[0];
	for (int c = 1; c < nr_cpus; c++)
		http_stats_add(dst, &percpu[c]);
}

int series_cmp(const struct oa_series *a, const struct oa_series *b)
{
	int c;

	if (!a->overflow != !b->overflow)
		return a->overflow ? 1 : -1;
	if (!a->overflow) {
		if (series_method(a->method) != series_method(b->method))
			return series_method(a->method) < series_method(b->method) ? -1 : 1;
		c = strncmp(a->route, b->route, OA_MAX_ROUTE);
		if (c)
			return c;
	}
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->error != b->error)
		return a->error < b->error ? -1 : 1;
	if (!a->overflow && series_version(a->version) != series_version(b->version))
		return series_version(a->version) < series_version(b->version) ? -1 : 1;
	return 0;
}

/* series_cmp for qsort. */
static int cmp_exported(const void *a, const void *b)
{
	return series_cmp(a, b);
}

size_t series_merge(struct oa_series *series, size_t n)
{
	return http_stats_merge(series, n, sizeof(*series), offsetof(struct oa_series, stats),
				cmp_exported);
}

size_t http_stats_merge(void *v, size_t n, size_t size, size_t stats_at,
			int (*cmp)(const void *, const void *))
{
	char *first = v;
	size_t out = 0;

	if (!n)
		return 0;
	qsort(v, n, size, cmp);
	for (size_t i = 1; i < n; i++) {
		char *dst = first + out * size, *src = first + i * size;

		if (!cmp(dst, src)) {
			http_stats_add((struct http_stats *)(dst + stats_at),
				       (const struct http_stats *)(src + stats_at));
			continue;
		}
		if (++out != i)
			memcpy(first + out * size, src, size);
	}
	return out + 1;
}
