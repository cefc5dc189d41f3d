/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns quantiles of a duration histogram for `otel-agent top`: the
 * estimate Prometheus' histogram_quantile makes from the same buckets the
 * endpoints export, so that the view and a dashboard agree.
 */
#ifndef OA_TOP_QUANTILE_H
#define OA_TOP_QUANTILE_H

#include <linux/types.h>

/*
 * The q-quantile (0 < q < 1) of a histogram as Prometheus' histogram_quantile does it:
 * counts[i] is the count of bucket i (NOT cumulative) for i < nr_bounds, counts[nr_bounds]
 * the +Inf bucket; bounds ascending, in seconds. Rank q*total; the bucket where the
 * cumulative count reaches it; linear interpolation between its lower bound (0 for the
 * first bucket) and its upper bound; in the +Inf bucket: the highest finite bound.
 * NAN when total is 0. As Prometheus too: NAN when there is no finite bound or q
 * is NAN, -INFINITY for q < 0, +INFINITY for q > 1, and a first bound <= 0 is
 * returned as it is (no interpolation from 0).
 */
double top_quantile(const double *bounds, unsigned int nr_bounds, const __u64 *counts, double q);

#endif /* OA_TOP_QUANTILE_H */
