// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reads the kernel maps into a snapshot at scrape time: per-CPU series
 * values are summed, paths become routes (route_memo.c), requests on
 * ignored routes are counted and left out, the cardinality cap per target
 * process is applied (cardinality.c), series equal after that are merged
 * over all targets (series.c); the client series and the waiting requests
 * are read (clients.c), and targets that exited are dropped from the
 * targets map. Then the series the kernel need not hold any more are
 * taken out of it into the retired store (retire.c, retired.c).
 *
 * The kernel's series are cumulative counters, so every scrape rebuilds
 * the exported series from all of them and the retired store; the registry
 * of admitted label sets is what keeps scrapes consistent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "array.h"
#include "metrics/aggregate.h"
#include "metrics/cardinality.h"
#include "metrics/clients.h"
#include "metrics/route_memo.h"
#include "metrics/stats_map.h"
#include "kernel/map_walk.h"
#include "kernel/series_take.h"
#include "log.h"
#include "targets/proc.h"

int aggregator_init(struct aggregator *agg, const struct route_rules *rules,
		    unsigned int max_per_target, size_t map_max)
{
	memset(agg, 0, sizeof(*agg));
	agg->rules = rules;
	agg->map_max = map_max ? map_max : OA_MAX_SERIES;
	retired_init(&agg->retired, agg->map_max, OA_MAX_CLIENT_SERIES);
	pthread_mutex_init(&agg->lock, NULL);
	agg->memo = route_memo_new();
	agg->registry = series_registry_new(max_per_target);
	if (!agg->memo || !agg->registry) {
		aggregator_free(agg);
		return -ENOMEM;
	}
	return 0;
}

void aggregator_free(struct aggregator *agg)
{
	if (!agg)
		return;
	route_memo_free(agg->memo);
	series_registry_free(agg->registry);
	retired_free(&agg->retired);
	retire_watch_free(&agg->watch);
	agg->memo = NULL;
	agg->registry = NULL;
}

int aggregate_series(struct aggregator *agg, struct kernel_series *in, size_t n,
		     struct oa_snapshot *snap)
{
	const struct retired *r = &agg->retired;
	struct kernel_series **v = malloc((n ? n : 1) * sizeof(*v));
	/* not zeroed: an element is written whole before it counts (1.5 MB at 2000 series) */
	struct oa_series *out = malloc((n + r->nr_series + 1) * sizeof(*out));
	size_t m = 0, nr_out = 0;
	int err = 0;

	snap->series = NULL;
	snap->nr_series = 0;
	snap->requests_ignored = r->ignored;
	snap->series_overflowed = r->overflowed;
	if (!v || !out || !agg->memo || !agg->registry) {
		err = -ENOMEM;
		goto cleanup;
	}
	agg->scrape++;
	for (size_t i = 0; i < n; i++) {
		struct oa_series *s = &in[i].s;
		const char *route;
		bool ignored;

		in[i].ignored = 0;
		s->overflow = 0;
		if (in[i].key.flags & OA_SERIES_OVERFLOW) {
			/* the kernel kept it out of its own series: the target held its cap */
			series_to_overflow(s);
			snap->series_overflowed += s->stats.count;
			out[nr_out++] = *s;
			continue;
		}
		s->route[OA_MAX_ROUTE - 1] = '\0';
		err = route_memo_resolve(agg->memo, agg->rules, s->route, agg->scrape, &route,
					 &ignored);
		if (err)
			goto cleanup;
		if (ignored) {
			in[i].ignored = 1;
			snap->requests_ignored += s->stats.count;
			continue;
		}
		memcpy(s->route, route, strlen(route) + 1);
		v[m++] = &in[i];
	}
	err = series_registry_cap(agg->registry, agg->scrape, v, m, out, &nr_out,
				  &snap->series_overflowed);
	if (err)
		goto cleanup;
	route_memo_sweep(agg->memo, agg->scrape);
	/* what left the kernel carries on, in the form it was exported in */
	if (r->nr_series)
		memcpy(out + nr_out, r->series, r->nr_series * sizeof(*out));
	nr_out += r->nr_series;
	snap->nr_series = series_merge(out, nr_out);
	snap->series = out;
	out = NULL;
cleanup:
	free(v);
	free(out);
	return err;
}

/* stats_map_read's fill for the series map: the key's labels, its path as the route. */
static struct http_stats *fill_series(void *elem, const void *k)
{
	const struct series_key *key = k;
	struct kernel_series *ks = elem;

	ks->tgid = key->tgid;
	ks->key = *key;
	ks->s.status = key->status;
	ks->s.method = key->method;
	ks->s.version = key->version;
	ks->s.error = key->error;
	memcpy(ks->s.route, key->path, OA_MAX_PATH);
	ks->s.route[OA_MAX_PATH - 1] = '\0';
	return &ks->s.stats;
}

int read_kernel_series(int fd, int nr_cpus, struct kernel_series **out, size_t *n)
{
	struct stats_array a = { .size = sizeof(**out) };
	int err;

	err = stats_map_read(fd, sizeof(struct series_key), nr_cpus, fill_series, &a);
	*out = a.v;
	*n = a.n;
	return err;
}

/* The targets map as read so far: live processes, and the ones gone to forget after the walk. */
struct target_list {
	struct oa_target *live;
	size_t n, cap;
	__u32 *gone;
	size_t nr_gone, cap_gone;
};

/* map_walk's callback over targets. */
static int add_target(const void *key, const void *value, void *arg)
{
	struct target_list *l = arg;
	__u32 pid;
	void *grown;

	(void)value;
	if (!key) { /* the walk starts over */
		l->n = l->nr_gone = 0;
		return 0;
	}
	pid = *(const __u32 *)key;
	if (!proc_exists((pid_t)pid)) {
		grown = array_grow(l->gone, &l->cap_gone, l->nr_gone, sizeof(*l->gone), 8);
		if (!grown)
			return -ENOMEM;
		l->gone = grown;
		l->gone[l->nr_gone++] = pid;
		return 0;
	}
	grown = array_grow(l->live, &l->cap, l->n, sizeof(*l->live), 8);
	if (!grown)
		return -ENOMEM;
	l->live = grown;
	memset(&l->live[l->n], 0, sizeof(l->live[l->n]));
	l->live[l->n++].pid = pid;
	return 0;
}

int read_live_targets(int fd, struct oa_target **out, size_t *n)
{
	struct target_list l = { 0 };
	int err = map_walk(fd, sizeof(__u32), sizeof(__u8), add_target, &l);

	/* deleted after the walk, which a delete during it could make see a key twice */
	for (size_t i = 0; !err && i < l.nr_gone; i++) {
		log_info("target pid %u exited; what it counted stays exported", l.gone[i]);
		bpf_map_delete_elem(fd, &l.gone[i]);
	}
	free(l.gone);
	if (err) {
		free(l.live);
		l = (struct target_list){ 0 };
	}
	*out = l.live;
	*n = l.n;
	return err;
}

/* The live targets, sorted by pid, and the targets map for those forked since. */
struct liveness {
	__u32 *pids;
	size_t n;
	int targets_fd;
};

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* target_alive_fn: a target read alive, or one the kernel added since (a fork). */
static bool target_alive(__u32 tgid, void *arg)
{
	const struct liveness *l = arg;
	__u8 v;

	if (bsearch(&tgid, l->pids, l->n, sizeof(*l->pids), cmp_u32))
		return true;
	return !bpf_map_lookup_elem(l->targets_fd, &tgid, &v);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/*
 * Takes the series retire_choose picked out of the kernel into the
 * retired store, with the values they held last; a live target's count
 * of series in the kernel goes down by those it had made.
 */
static int retire_series(struct aggregator *agg, struct loader *a, struct kernel_series *in,
			 size_t n, int nr_cpus, struct liveness *live)
{
	int fd = bpf_map__fd(a->skel->maps.series);
	int spill_fd = bpf_map__fd(a->skel->maps.series_spill);
	int nr = retire_choose(&agg->watch, in, n, agg->map_max, now_ns(), target_alive, live);
	int err = 0;

	for (size_t i = 0; nr > 0 && !err && i < n; i++) {
		struct kernel_series *ks = &in[i];
		struct http_stats last;

		if (!ks->retire)
			continue;
		if (ks->spilled)
			err = series_take(spill_fd, &ks->key, 1, &last);
		else
			err = series_take(fd, &ks->key, nr_cpus, &last);
		if (err == -ENOENT) {
			err = 0;
			continue;
		}
		if (err)
			break;
		if (ks->ignored)
			agg->retired.ignored += last.count;
		else
			err = retired_add_series(&agg->retired, &ks->s, &last);
		/* the kernel counts the series it made in `series` against the cap */
		if (!err && !ks->spilled && !ks->gone)
			err = series_count_freed(a, ks->tgid, 1);
	}
	retired_settle(&agg->retired);
	if (nr < 0)
		return nr;
	return err ? err : series_counts_prune(a, target_alive, live);
}

/* Both series maps into *out (allocated), series_spill's entries marked. */
static int read_both(struct loader *a, int nr_cpus, struct kernel_series **out, size_t *n)
{
	struct kernel_series *main_v, *spill_v, *grown;
	size_t nr_main, nr_spill;
	int err;

	err = read_kernel_series(bpf_map__fd(a->skel->maps.series), nr_cpus, &main_v, &nr_main);
	if (err)
		return err;
	/* one value for all CPUs */
	err = read_kernel_series(bpf_map__fd(a->skel->maps.series_spill), 1, &spill_v, &nr_spill);
	if (err) {
		free(main_v);
		return err;
	}
	grown = realloc(main_v, (nr_main + nr_spill + 1) * sizeof(*grown));
	if (!grown) {
		free(main_v);
		free(spill_v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr_spill; i++) {
		grown[nr_main + i] = spill_v[i];
		grown[nr_main + i].spilled = 1;
	}
	free(spill_v);
	*out = grown;
	*n = nr_main + nr_spill;
	return 0;
}

static int read_series(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap,
		       struct liveness *live, int nr_cpus)
{
	struct kernel_series *in = NULL;
	size_t n = 0;
	int err;

	err = read_both(a, nr_cpus, &in, &n);
	if (!err)
		err = aggregate_series(agg, in, n, snap);
	if (!err)
		err = retire_series(agg, a, in, n, nr_cpus, live);
	free(in);
	return err;
}

static int snapshot_locked(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap)
{
	struct oa_target *targets = NULL;
	struct liveness live = { .targets_fd = bpf_map__fd(a->skel->maps.targets) };
	int nr_cpus = loader_series_cpus(a);
	int err;

	memset(snap, 0, sizeof(*snap));
	if (nr_cpus < 0)
		return nr_cpus;
	snap->bounds = a->bounds;
	snap->nr_bounds = a->nr_bounds;
	snap->size_bounds = a->size_bounds;
	snap->nr_size_bounds = a->nr_size_bounds;
	err = percpu_counters_read(bpf_map__fd(a->skel->maps.events), 0, OA_EV_COUNT, snap->events);
	if (!err)
		err = percpu_counters_read(bpf_map__fd(a->skel->maps.map_errors), 0, OA_ERR_COUNT,
					   snap->map_errors);
	/* first: what is gone is known before the series are read */
	if (!err)
		err = read_live_targets(live.targets_fd, &targets, &snap->nr_targets);
	snap->targets = targets;
	if (!err) {
		live.pids = calloc(snap->nr_targets + 1, sizeof(*live.pids));
		err = live.pids ? 0 : -ENOMEM;
	}
	if (!err) {
		for (size_t i = 0; i < snap->nr_targets; i++)
			live.pids[i] = targets[i].pid;
		live.n = snap->nr_targets;
		qsort(live.pids, live.n, sizeof(*live.pids), cmp_u32);
		err = read_series(agg, a, snap, &live, nr_cpus);
	}
	if (!err)
		err = clients_read(a, &agg->retired, target_alive, &live, &snap->clients,
				   &snap->nr_clients);
	if (!err)
		err = active_requests_read(a, snap->active);
	free(live.pids);
	if (err)
		snapshot_free(snap);
	return err;
}

int aggregate_snapshot(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap)
{
	int err;

	pthread_mutex_lock(&agg->lock);
	err = snapshot_locked(agg, a, snap);
	pthread_mutex_unlock(&agg->lock);
	return err;
}

void snapshot_free(struct oa_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->series);
	free((void *)snap->targets);
	free(snap->clients);
	snap->series = NULL;
	snap->targets = NULL;
	snap->clients = NULL;
	snap->nr_series = 0;
	snap->nr_targets = 0;
	snap->nr_clients = 0;
}
