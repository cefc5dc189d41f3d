/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading a per-CPU kernel map of struct http_stats (the series map, the
 * client series map) into an array of user-space series, each value
 * summed over CPUs.
 */
#ifndef OA_STATS_MAP_H
#define OA_STATS_MAP_H

#include <stddef.h>
#include "otel_agent.h"

/* Fills elem (zeroed) with the labels of key; returns where in elem its stats go. */
typedef struct http_stats *(*stats_fill_fn)(void *elem, const void *key);

/* The series read: n elements of size bytes (set by the caller) in v, which the caller frees. */
struct stats_array {
	void *v;
	size_t n, cap;
	size_t size;
};

/*
 * Reads every entry of the per-CPU map at fd (keys of key_size bytes,
 * nr_cpus values per key) into a, one element per key: fill sets its
 * labels, and its stats are the key's values summed. Returns 0, or a
 * negative errno with a emptied.
 */
int stats_map_read(int fd, size_t key_size, int nr_cpus, stats_fill_fn fill, struct stats_array *a);

#endif /* OA_STATS_MAP_H */
