// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns histogram_quantile over exact buckets (quantile.h): the same rule
 * as Prometheus' bucketQuantile for classic histograms, on the counts of
 * one interval rather than on rates of cumulative buckets (the ratio is
 * the same).
 */
#include <math.h>

#include "top/quantile.h"

double top_quantile(const double *bounds, unsigned int nr_bounds, const __u64 *counts, double q)
{
	double total = 0, below = 0, rank, lower;
	unsigned int b;

	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	/* Prometheus needs a finite bucket besides +Inf to say anything */
	if (!nr_bounds)
		return NAN;
	for (b = 0; b <= nr_bounds; b++)
		total += (double)counts[b];
	if (total == 0)
		return NAN;
	rank = q * total;
	/* the first finite bucket whose cumulative count reaches the rank */
	for (b = 0; b < nr_bounds; b++) {
		if (below + (double)counts[b] >= rank)
			break;
		below += (double)counts[b];
	}
	if (b == nr_bounds)
		return bounds[nr_bounds - 1];
	if (b == 0 && bounds[0] <= 0)
		return bounds[0];
	lower = b ? bounds[b - 1] : 0;
	return lower + (bounds[b] - lower) * ((rank - below) / (double)counts[b]);
}
