// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reads the kernel maps into a snapshot at scrape time: per-CPU series
 * values are summed, paths become route templates, series equal after that
 * are merged (over all targets), and targets that exited are dropped from
 * the targets map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "aggregate.h"
#include "log.h"
#include "route.h"
#include "targets.h"

static int read_percpu_counters(int fd, __u64 *out, __u32 n, int nr_cpus)
{
	__u64 *vals = calloc((size_t)nr_cpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < n; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < nr_cpus; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

static int cmp_series(const void *pa, const void *pb)
{
	const struct oa_series *a = pa, *b = pb;

	if (a->method != b->method)
		return a->method < b->method ? -1 : 1;
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->version != b->version)
		return a->version < b->version ? -1 : 1;
	if (a->error != b->error)
		return a->error < b->error ? -1 : 1;
	return strcmp(a->route, b->route);
}

size_t series_merge(struct oa_series *series, size_t n)
{
	size_t out = 0;

	if (!n)
		return 0;
	qsort(series, n, sizeof(*series), cmp_series);
	for (size_t i = 1; i < n; i++) {
		struct oa_series *dst = &series[out];

		if (!cmp_series(dst, &series[i])) {
			dst->count += series[i].count;
			dst->sum_ns += series[i].sum_ns;
			for (int b = 0; b < OA_NR_BUCKETS; b++)
				dst->buckets[b] += series[i].buckets[b];
			continue;
		}
		series[++out] = series[i];
	}
	return out + 1;
}

static int read_series(struct bpf_agent *a, struct oa_snapshot *snap, int nr_cpus)
{
	int fd = bpf_map__fd(a->skel->maps.series);
	size_t cap = 256;
	struct series_key key, next;
	struct series_val *vals;
	void *prev = NULL;
	int err = 0;

	vals = calloc((size_t)nr_cpus, sizeof(*vals));
	snap->series = calloc(cap, sizeof(*snap->series));
	if (!vals || !snap->series) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct oa_series *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue; /* deleted since get_next_key */
		if (snap->nr_series == cap) {
			struct oa_series *grown = realloc(snap->series, 2 * cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			snap->series = grown;
			cap *= 2;
		}
		s = &snap->series[snap->nr_series++];
		memset(s, 0, sizeof(*s));
		s->status = key.status;
		s->method = key.method;
		s->version = key.version;
		s->error = key.error;
		key.path[OA_MAX_PATH - 1] = '\0';
		route_template(key.path, s->route, sizeof(s->route));
		for (int c = 0; c < nr_cpus; c++) {
			s->count += vals[c].count;
			s->sum_ns += vals[c].sum_ns;
			for (int b = 0; b < OA_NR_BUCKETS; b++)
				s->buckets[b] += vals[c].buckets[b];
		}
	}
	snap->nr_series = series_merge(snap->series, snap->nr_series);
cleanup:
	free(vals);
	return err;
}

/* Lists live targets (forked workers included) and forgets the ones that exited. */
static int read_targets(struct bpf_agent *a, struct oa_snapshot *snap)
{
	int fd = bpf_map__fd(a->skel->maps.targets);
	struct oa_target *targets = NULL;
	size_t n = 0, cap = 0;
	__u32 key, next, *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!target_exists((pid_t)key)) {
			log_info("target pid %u exited; dropped (its series stay)", key);
			bpf_map_delete_elem(fd, &key);
			prev = NULL; /* iteration order may change after a delete: restart */
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct oa_target *grown = realloc(targets, ncap * sizeof(*grown));

			if (!grown) {
				free(targets);
				return -ENOMEM;
			}
			targets = grown;
			cap = ncap;
		}
		targets[n].pid = key;
		target_service_name((pid_t)key, targets[n].service_name,
				    sizeof(targets[n].service_name));
		n++;
	}
	snap->targets = targets;
	snap->nr_targets = n;
	return 0;
}

int aggregate_snapshot(struct bpf_agent *a, struct oa_snapshot *snap)
{
	int nr_cpus = libbpf_num_possible_cpus();
	int err;

	memset(snap, 0, sizeof(*snap));
	if (nr_cpus < 0)
		return nr_cpus;
	snap->bounds = a->bounds;
	snap->nr_bounds = a->nr_bounds;
	err = read_percpu_counters(bpf_map__fd(a->skel->maps.events), snap->events, OA_EV_COUNT,
				   nr_cpus);
	if (!err)
		err = read_percpu_counters(bpf_map__fd(a->skel->maps.map_errors), snap->map_errors,
					   OA_ERR_COUNT, nr_cpus);
	if (!err)
		err = read_series(a, snap, nr_cpus);
	if (!err)
		err = read_targets(a, snap);
	if (err)
		snapshot_free(snap);
	return err;
}

void snapshot_free(struct oa_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->series);
	free((void *)snap->targets);
	snap->series = NULL;
	snap->targets = NULL;
	snap->nr_series = 0;
	snap->nr_targets = 0;
}
