// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns deleting series from the kernel maps (series_take.h). A lookup and
 * delete is one step in the kernel, so the values returned are the last
 * the entry had; kernels without it for hash maps (before 5.14) get a
 * lookup, then a delete.
 */
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "array.h"
#include "kernel/loader.h"
#include "kernel/map_walk.h"
#include "kernel/series_take.h"
#include "metrics/series.h"

int series_take(int fd, const void *key, int nr_cpus, struct http_stats *stats)
{
	struct http_stats *values = calloc((size_t)nr_cpus, sizeof(*values));
	int err;

	if (!values)
		return -ENOMEM;
	err = bpf_map_lookup_and_delete_elem(fd, key, values) ? -errno : 0;
	/* the kernel's ENOTSUPP (524), which it may return for an unsupported command */
	if (err == -EINVAL || err == -524 || err == -EOPNOTSUPP) {
		err = bpf_map_lookup_elem(fd, key, values) ? -errno : 0;
		if (!err)
			err = bpf_map_delete_elem(fd, key) ? -errno : 0;
	}
	if (!err)
		http_stats_sum_cpus(stats, values, nr_cpus);
	free(values);
	return err;
}

int series_count_freed(struct loader *a, __u32 tgid, __u64 n)
{
	int fd = bpf_map__fd(a->skel->maps.series_freed);
	__u64 freed = 0;

	/* user space is the only writer of series_freed */
	if (bpf_map_lookup_elem(fd, &tgid, &freed) && errno != ENOENT)
		return -errno;
	freed += n;
	return bpf_map_update_elem(fd, &tgid, &freed, BPF_ANY) ? -errno : 0;
}

struct gone_list {
	bool (*alive)(__u32 tgid, void *arg);
	void *arg;
	__u32 *v;
	size_t n, cap;
};

/* map_walk's callback over series_made: lists the tgids that are gone. */
static int list_gone(const void *key, const void *value, void *arg)
{
	struct gone_list *l = arg;
	__u32 tgid, *grown;

	(void)value;
	if (!key) { /* the walk starts over */
		l->n = 0;
		return 0;
	}
	tgid = *(const __u32 *)key;
	if (l->alive(tgid, l->arg))
		return 0;
	grown = array_grow(l->v, &l->cap, l->n, sizeof(*l->v), 16);
	if (!grown)
		return -ENOMEM;
	l->v = grown;
	l->v[l->n++] = tgid;
	return 0;
}

int series_counts_prune(struct loader *a, bool (*alive)(__u32 tgid, void *arg), void *arg)
{
	int made = bpf_map__fd(a->skel->maps.series_made);
	int freed = bpf_map__fd(a->skel->maps.series_freed);
	struct gone_list l = { .alive = alive, .arg = arg };
	int err = map_walk(made, sizeof(__u32), sizeof(__u64), list_gone, &l);

	/* deleted after the walk, which a delete during it could make see a key twice */
	for (size_t i = 0; !err && i < l.n; i++) {
		bpf_map_delete_elem(made, &l.v[i]);
		bpf_map_delete_elem(freed, &l.v[i]);
	}
	free(l.v);
	return err;
}
