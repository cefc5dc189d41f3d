/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The user-space view of the metrics at one scrape: series aggregated from
 * the kernel maps by route, plus the agent's own counters. Produced by
 * metrics/aggregate.c, consumed by the renderers in src/expose/.
 */
#ifndef OA_SERIES_H
#define OA_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "otel_agent.h"

/* A route template is at most a path plus room for placeholders. */
#define OA_MAX_ROUTE (OA_MAX_PATH + 64)

/* One exported series: requests of one method, status, version and route, over all targets. */
struct oa_series {
	__u16 status;
	__u8 method;   /* enum oa_method */
	__u8 version;  /* OA_HTTP_10 / OA_HTTP_11, 0 if unknown */
	__u8 error;    /* enum oa_conn_error: ended without a response (status 0) */
	__u8 overflow; /* past the cardinality limit: only otel_metric_overflow="true" is a label */
	char route[OA_MAX_ROUTE];
	struct http_stats stats; /* buckets over snapshot.bounds, body sizes over size_bounds */
};

/* Outgoing requests of the targets to one server, by outcome, over all targets. */
struct oa_client_series {
	__u16 status;
	__u16 server_port;
	__u8 method;
	__u8 version;
	__u8 error;
	char server_address[48]; /* the address connect() was given, as text */
	struct http_stats stats;
};

/*
 * One series as the kernel keyed it, its per-CPU values summed; s.route
 * holds the kernel's path, then (aggregate_series) its route, and s.overflow
 * whether it is exported in an overflow series.
 */
struct kernel_series {
	__u32 tgid;
	__u8 ignored; /* on an ignored route: counted, not exported */
	__u8 retire;  /* leaves the kernel map now (retire.h) */
	__u8 gone;    /* its process is no longer a target (retire.h) */
	__u8 spilled; /* read from series_spill, not series */
	struct series_key key;
	struct oa_series s;
};

struct oa_target {
	__u32 pid;
	char service_name[128];
};

struct oa_snapshot {
	const double *bounds; /* the kernel's bucket bounds in seconds, ascending */
	unsigned int nr_bounds;
	const double *size_bounds; /* the kernel's body-size bounds in bytes, ascending */
	unsigned int nr_size_bounds;
	struct oa_client_series *clients;
	size_t nr_clients;
	__u64 active[OA_METHOD_COUNT]; /* requests waiting for their response, by method */
	struct oa_series *series;
	size_t nr_series;
	__u64 events[OA_EV_COUNT];
	__u64 map_errors[OA_ERR_COUNT];
	const struct oa_target *targets;
	size_t nr_targets;
	bool body_sizes; /* export the body-size histograms (--body-sizes) */
	const char *host_name;
	const char *version;	 /* the agent's version, for otel_agent_build_info */
	const char *programs;	 /* the BPF programs' build, for the same (NULL: none) */
	__u64 series_overflowed; /* measurements folded into the overflow series (user space) */
	__u64 requests_ignored;	 /* requests on routes matching an ignore pattern (user space) */
	/*
	 * NULL, or one resource per target in the same order (resources_read,
	 * resource.h): target_info's attributes. NULL: pid and service_name only.
	 */
	const struct oa_resource *resources;
};

/* The method a label shows: unknown values are exported as _OTHER. */
static inline unsigned int series_method(__u8 m)
{
	return m < OA_METHOD_COUNT ? m : OA_METHOD_OTHER;
}

/* The version a label shows: only 1.0 and 1.1, anything else is unknown (0). */
static inline unsigned int series_version(__u8 v)
{
	return v == OA_HTTP_10 || v == OA_HTTP_11 ? v : 0;
}

/* Turns s into an overflow series: only its status and error stay labels. */
static inline void series_to_overflow(struct oa_series *s)
{
	s->overflow = 1;
	s->method = OA_METHOD_OTHER;
	s->version = 0;
	memset(s->route, 0, sizeof(s->route));
}

/*
 * The order series are exported in: by method, route, status, error and
 * version as labelled, overflow series last and told apart only by status
 * and error (the rest of their labels is not exported). 0 means the two
 * are one exported series.
 */
int series_cmp(const struct oa_series *a, const struct oa_series *b);

/*
 * Sorts series in the order they are exported in (series_cmp) and merges
 * equal ones in place, summing their counts. Returns the new number of
 * series.
 */
size_t series_merge(struct oa_series *series, size_t n);

/*
 * Sorts v[0..n) (elements of size bytes, each with its struct http_stats
 * at stats_at) by cmp and sums each run of equal elements into its first:
 * what series_merge and clients_merge share. Returns how many are left.
 */
size_t http_stats_merge(void *v, size_t n, size_t size, size_t stats_at,
			int (*cmp)(const void *, const void *));

/* Adds the counts of src to dst: series merged over CPUs, targets or routes. */
void http_stats_add(struct http_stats *dst, const struct http_stats *src);

/* Sets dst to the sum of a per-CPU map value (nr_cpus values, as a lookup returns them). */
void http_stats_sum_cpus(struct http_stats *dst, const struct http_stats *percpu, int nr_cpus);

#endif /* OA_SERIES_H */
