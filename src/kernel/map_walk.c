// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading kernel maps from user space (map_walk.h): every entry of a hash
 * map, and the counters of a per-CPU array. A scrape reads the series maps
 * and the connections' queues this way, so the number of syscalls grows
 * with the entries divided by the batch, not twice the entries.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/map_walk.h"

/* Entries per bpf_map_lookup_batch call. */
#define WALK_BATCH 256

/* Returns 0, fn's value or -ENOMEM; *failed when a batch failed (then read key by key). */
static int walk_batched(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *arg,
			bool *failed)
{
	char *keys = calloc(WALK_BATCH, key_size);
	char *vals = calloc(WALK_BATCH, value_size);
	__u64 batch = 0; /* where the next call goes on (a hash bucket) */
	bool first = true, last = false;
	int ret = 0;

	if (!keys || !vals)
		ret = -ENOMEM;
	while (!ret && !last) {
		__u32 count = WALK_BATCH;

		if (bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					 NULL)) {
			if (errno != ENOENT) {
				*failed = true;
				break;
			}
			last = true; /* ENOENT: the map ends with these */
		}
		for (__u32 i = 0; i < count && !ret; i++)
			ret = fn(keys + i * key_size, vals + i * value_size, arg);
		first = false;
	}
	free(keys);
	free(vals);
	return ret;
}

static int walk_by_key(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *arg)
{
	char *key = malloc(key_size), *next = malloc(key_size), *val = malloc(value_size);
	bool first = true;
	int ret = 0;

	if (!key || !next || !val)
		ret = -ENOMEM;
	while (!ret && !bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		char *t = key;

		key = next;
		next = t;
		first = false;
		if (bpf_map_lookup_elem(fd, key, val))
			continue; /* deleted since get_next_key */
		ret = fn(key, val, arg);
	}
	free(key);
	free(next);
	free(val);
	return ret;
}

int map_walk(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *arg)
{
	bool failed = false;
	int ret = walk_batched(fd, key_size, value_size, fn, arg, &failed);

	if (ret || !failed)
		return ret;
	ret = fn(NULL, NULL, arg);
	return ret ? ret : walk_by_key(fd, key_size, value_size, fn, arg);
}

int percpu_counters_read(int fd, __u32 first, __u32 n, __u64 *out)
{
	int nr_cpus = libbpf_num_possible_cpus();
	__u64 *vals;

	if (nr_cpus < 0)
		return nr_cpus;
	vals = calloc((size_t)nr_cpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		__u32 key = first + i;

		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (int c = 0; c < nr_cpus; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}
