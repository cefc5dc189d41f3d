// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns reading the kernel's per-CPU stats maps (map_walk, batched) into
 * arrays of series: the array grown as entries come and started over when
 * the walk is, the per-CPU values summed into each element.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/map_walk.h"
#include "array.h"
#include "metrics/series.h"
#include "metrics/stats_map.h"

struct stats_walk {
	struct stats_array *a;
	stats_fill_fn fill;
	int nr_cpus;
};

/* map_walk's callback: appends the element of one key; -ENOMEM. */
static int append(const void *key, const void *values, void *arg)
{
	struct stats_walk *w = arg;
	struct stats_array *a = w->a;
	char *grown, *elem;

	if (!key) { /* the walk starts over */
		a->n = 0;
		return 0;
	}
	grown = array_grow(a->v, &a->cap, a->n, a->size, 64);
	if (!grown)
		return -ENOMEM;
	a->v = grown;
	elem = grown + a->n++ * a->size;
	memset(elem, 0, a->size);
	http_stats_sum_cpus(w->fill(elem, key), values, w->nr_cpus);
	return 0;
}

int stats_map_read(int fd, size_t key_size, int nr_cpus, stats_fill_fn fill, struct stats_array *a)
{
	struct stats_walk w = { .a = a, .fill = fill, .nr_cpus = nr_cpus };
	int err;

	err = map_walk(fd, key_size, (size_t)nr_cpus * sizeof(struct http_stats), append, &w);
	if (err) {
		free(a->v);
		a->v = NULL;
		a->n = a->cap = 0;
	}
	return err;
}
