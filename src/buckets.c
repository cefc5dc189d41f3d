// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Histogram bucket bounds of both endpoints, and their union, which is what
 * the kernel counts so that each endpoint's histogram is exact.
 */
#include "buckets.h"

static const double otel_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
				      0.5,   0.75, 1,	  2.5,	5,     7.5, 10 };
static const double plugin_bounds[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10 };

const struct bucket_set buckets_otel = { otel_bounds, sizeof(otel_bounds) / sizeof(double) };
const struct bucket_set buckets_plugin = { plugin_bounds, sizeof(plugin_bounds) / sizeof(double) };

int buckets_union(const struct bucket_set *a, const struct bucket_set *b, double *out,
		  unsigned int max)
{
	unsigned int i = 0, j = 0, n = 0;

	while (i < a->nr || j < b->nr) {
		double next;

		if (j == b->nr || (i < a->nr && a->bounds[i] < b->bounds[j]))
			next = a->bounds[i++];
		else if (i == a->nr || b->bounds[j] < a->bounds[i])
			next = b->bounds[j++];
		else {
			next = a->bounds[i++];
			j++;
		}
		if (n == max)
			return -1;
		out[n++] = next;
	}
	return (int)n;
}
