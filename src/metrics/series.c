// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Arithmetic on the counts of a series, shared by the server and client series. */
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
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
	for (int b = 0; b < OA_NR_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	size_hist_add(&dst->req_body, &src->req_body);
	size_hist_add(&dst->resp_body, &src->resp_body);
}

void http_stats_sum_cpus(struct http_stats *dst, const struct http_stats *percpu, int nr_cpus)
{
	memset(dst, 0, sizeof(*dst));
	for (int c = 0; c < nr_cpus; c++)
		http_stats_add(dst, &percpu[c]);
}
