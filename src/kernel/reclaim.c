// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Stale kernel state: a process killed in the middle of a request leaves
 * its entries in the per-connection maps (no close() is seen for its fds).
 * main.c calls reclaim_stale every few seconds; it deletes what belongs to
 * processes that no longer exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http.skel.h"
#include "array.h"
#include "log.h"
#include "kernel/reclaim.h"
#include "targets/proc.h"

/* Recent answers of "is it gone?", so a process with many connections is asked once. */
#define GONE_CACHE 64

struct gone_cache {
	__u32 id[GONE_CACHE];
	bool gone[GONE_CACHE];
	size_t n;
};

static bool owner_gone(__u32 id, struct gone_cache *c)
{
	bool gone;

	for (size_t i = 0; i < c->n; i++) {
		if (c->id[i] == id)
			return c->gone[i];
	}
	gone = !proc_exists((pid_t)id);
	if (c->n < GONE_CACHE) {
		c->id[c->n] = id;
		c->gone[c->n] = gone;
		c->n++;
	}
	return gone;
}

/* Keys of conns and reqs (struct conn_key, struct req_key) start with the tgid. */
static __u32 key_owner_id(const void *key)
{
	__u32 tgid;

	memcpy(&tgid, key, sizeof(tgid));
	return tgid;
}

/* Collects the stale keys first and deletes them after: deleting while walking restarts the walk. */
static int reclaim_map(struct loader *a, const char *name, size_t key_size)
{
	struct bpf_map *map = bpf_object__find_map_by_name(a->skel->obj, name);
	struct gone_cache cache = { 0 };
	char *stale = NULL, *next = NULL, *last = NULL, *grown;
	bool first = true;
	size_t n = 0, cap = 0, steps = 0, max_steps;
	int fd, deleted = 0, err = 0;

	if (!map)
		return 0; /* not in this BPF object */
	if (bpf_map__key_size(map) != key_size) {
		log_debug("reclaim: map %s has %u-byte keys, expected %zu; skipped", name,
			  bpf_map__key_size(map), key_size);
		return 0;
	}
	fd = bpf_map__fd(map);
	/* a key deleted meanwhile restarts the walk: bound it under heavy churn */
	max_steps = 2 * (size_t)bpf_map__max_entries(map);
	next = malloc(key_size);
	last = malloc(key_size);
	if (!next || !last) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (steps++ < max_steps && !bpf_map_get_next_key(fd, first ? NULL : last, next)) {
		first = false;
		memcpy(last, next, key_size);
		if (!owner_gone(key_owner_id(next), &cache))
			continue;
		grown = array_grow(stale, &cap, n, key_size, 64);
		if (!grown) {
			err = -ENOMEM;
			goto cleanup;
		}
		stale = grown;
		memcpy(stale + n * key_size, next, key_size);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		if (!bpf_map_delete_elem(fd, stale + i * key_size))
			deleted++;
	}
cleanup:
	free(stale);
	free(next);
	free(last);
	return err ? err : deleted;
}

int reclaim_stale(struct loader *a)
{
	static const struct {
		const char *name;
		size_t key_size;
	} maps[] = {
		{ "conns", sizeof(struct conn_key) },
		{ "reqs", sizeof(struct req_key) },
	};
	int total = 0;

	if (!a || !a->skel)
		return 0;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		int n = reclaim_map(a, maps[i].name, maps[i].key_size);

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}
