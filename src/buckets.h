/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Histogram bucket bounds of both endpoints, and their union, which is what
 * the kernel counts so that each endpoint's histogram is exact.
 */
#ifndef OA_BUCKETS_H
#define OA_BUCKETS_H

struct bucket_set {
	const double *bounds; /* seconds, ascending; +Inf is implied */
	unsigned int nr;
};

/* OpenTelemetry's advisory bounds for http.server.request.duration (/metrics/otel). */
extern const struct bucket_set buckets_otel;
/* The plugin's prom-client bounds (/metrics). */
extern const struct bucket_set buckets_plugin;

/* Writes the sorted union of a and b (no repeats) to out; returns its size, or -1 past max. */
int buckets_union(const struct bucket_set *a, const struct bucket_set *b, double *out,
		  unsigned int max);

#endif /* OA_BUCKETS_H */
