/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Histogram bucket bounds of both endpoints (built-in or configured), and
 * their union, which is what the kernel counts so that each endpoint's
 * histogram is exact.
 */
#ifndef OA_BUCKETS_H
#define OA_BUCKETS_H

#include "otel_agent.h"

/* Bounds are counted in nanoseconds by the kernel: accepted from 1 ns to this many seconds. */
#define BUCKETS_MIN_BOUND 1e-9
#define BUCKETS_MAX_BOUND 1e9

struct bucket_set {
	const double *bounds; /* seconds, ascending; +Inf is implied */
	unsigned int nr;
	double own[OA_MAX_BOUNDS]; /* where buckets_set copies configured bounds */
};

/* Body-size histograms (bytes), counted by the kernel as they are. */
extern const struct bucket_set buckets_body_size;
/*
 * The bounds in force, set once at start-up (config_apply_buckets).
 * /metrics/otel: OpenTelemetry's advisory bounds (http.server.request.duration), or configured.
 */
extern struct bucket_set buckets_otel;
/* /metrics: the plugin's prom-client bounds, or configured. */
extern struct bucket_set buckets_plugin;

/*
 * Whether bounds[0..nr) can be an endpoint's bounds: 1 to OA_MAX_BOUNDS of
 * them, each finite, from BUCKETS_MIN_BOUND to BUCKETS_MAX_BOUND seconds,
 * strictly increasing. Returns 0, or -EINVAL with *why saying what is wrong.
 */
int buckets_check(const double *bounds, unsigned int nr, const char **why);

/* Copies checked bounds into set (set->bounds then points at set->own); -EINVAL if not valid. */
int buckets_set(struct bucket_set *set, const double *bounds, unsigned int nr);

/*
 * Parses "0.005,0.01,0.1" (decimal numbers in seconds, separated by commas,
 * blanks around them allowed) into out (room for max) and checks them as
 * buckets_check does. Returns how many, or -EINVAL with *why set.
 */
int buckets_parse(const char *list, double *out, unsigned int max, const char **why);

/* Writes the sorted union of a and b (no repeats) to out; returns its size, or -E2BIG past max. */
int buckets_union(const struct bucket_set *a, const struct bucket_set *b, double *out,
		  unsigned int max);

#endif /* OA_BUCKETS_H */
