// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reads the kernel maps into a snapshot at scrape time: per-CPU series
 * values are summed, paths become routes (route.c), requests on ignored
 * routes are counted and left out, the cardinality cap per target process
 * is applied against the registry of label sets admitted at earlier
 * scrapes, series equal after that are merged (over all targets); the
 * client series and the waiting requests are read (clients.c), and
 * targets that exited are dropped from the targets map.
 *
 * The kernel's series are cumulative counters, so every scrape rebuilds
 * the exported series from all of them; what keeps scrapes consistent is
 * the registry: a label set admitted once is exported for good, and once a
 * target has max_per_target admitted, each new label set folds into that
 * target's overflow series at every scrape, so no exported total goes back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "metrics/aggregate.h"
#include "metrics/clients.h"
#include "log.h"
#include "kernel/map_walk.h"
#include "metrics/route.h"
#include "targets/proc.h"

/* A label set one target was allowed to export. */
struct reg_entry {
	struct reg_entry *next;
	__u64 hash;
	__u32 tgid;
	__u16 status;
	__u8 method;
	__u8 version;
	__u8 error;
	char route[]; /* as long as the route */
};

struct reg_target {
	__u32 tgid;
	unsigned int admitted;
	unsigned long seen; /* the last scrape (generation) that had series of it */
};

/* The route of a kernel path, resolved once: templates cost a scan each. */
struct route_memo {
	struct route_memo *next;
	__u64 hash;
	unsigned long seen; /* the last scrape (generation) whose kernel map had the path */
	bool ignored;
	char *route; /* after path, in the same allocation */
	char path[];
};

struct series_registry {
	struct reg_entry **buckets; /* chained hash table, nr_buckets a power of two */
	size_t nr_buckets;
	size_t nr_entries;
	struct reg_target *targets; /* sorted by tgid */
	size_t nr_targets;
	size_t cap_targets;
	unsigned long generation;
	struct route_memo **memo; /* kernel path -> route, paths of the last scrape only */
	size_t nr_memo_buckets;
	size_t nr_memo;
};

#define REG_MIN_BUCKETS 256
#define FNV_OFFSET	0xcbf29ce484222325ULL

static __u64 fnv1a(__u64 h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static __u64 label_hash(__u32 tgid, const struct oa_series *s)
{
	__u64 h = FNV_OFFSET;

	h = fnv1a(h, &tgid, sizeof(tgid));
	h = fnv1a(h, &s->status, sizeof(s->status));
	h = fnv1a(h, &s->method, sizeof(s->method));
	h = fnv1a(h, &s->version, sizeof(s->version));
	h = fnv1a(h, &s->error, sizeof(s->error));
	return fnv1a(h, s->route, strnlen(s->route, OA_MAX_ROUTE));
}

static bool entry_is(const struct reg_entry *e, __u64 hash, __u32 tgid, const struct oa_series *s)
{
	return e->hash == hash && e->tgid == tgid && e->status == s->status &&
	       e->method == s->method && e->version == s->version && e->error == s->error &&
	       !strncmp(e->route, s->route, OA_MAX_ROUTE);
}

static bool reg_has(const struct series_registry *reg, __u64 hash, __u32 tgid,
		    const struct oa_series *s)
{
	const struct reg_entry *e;

	for (e = reg->buckets[hash & (reg->nr_buckets - 1)]; e; e = e->next)
		if (entry_is(e, hash, tgid, s))
			return true;
	return false;
}

static int reg_grow(struct series_registry *reg)
{
	size_t n = reg->nr_buckets * 2;
	struct reg_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < reg->nr_buckets; i++) {
		struct reg_entry *e = reg->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(reg->buckets);
	reg->buckets = b;
	reg->nr_buckets = n;
	return 0;
}

static int reg_add(struct series_registry *reg, __u64 hash, __u32 tgid, const struct oa_series *s)
{
	size_t len = strnlen(s->route, OA_MAX_ROUTE - 1);
	struct reg_entry *e;

	if (reg->nr_entries >= reg->nr_buckets && reg_grow(reg))
		return -ENOMEM;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->hash = hash;
	e->tgid = tgid;
	e->status = s->status;
	e->method = s->method;
	e->version = s->version;
	e->error = s->error;
	memcpy(e->route, s->route, len);
	e->route[len] = '\0';
	e->next = reg->buckets[hash & (reg->nr_buckets - 1)];
	reg->buckets[hash & (reg->nr_buckets - 1)] = e;
	reg->nr_entries++;
	return 0;
}

/* The target's slot, or NULL; *pos is where it is or would go. */
static struct reg_target *find_target(const struct series_registry *reg, __u32 tgid, size_t *pos)
{
	size_t lo = 0, hi = reg->nr_targets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (reg->targets[mid].tgid == tgid)
			return &reg->targets[mid];
		if (reg->targets[mid].tgid < tgid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

/* The target's slot, added with nothing admitted if new; NULL when out of memory. */
static struct reg_target *reg_target(struct series_registry *reg, __u32 tgid)
{
	struct reg_target *t;
	size_t pos;

	t = find_target(reg, tgid, &pos);
	if (t)
		return t;
	if (reg->nr_targets == reg->cap_targets) {
		size_t ncap = reg->cap_targets ? 2 * reg->cap_targets : 16;
		struct reg_target *grown = realloc(reg->targets, ncap * sizeof(*grown));

		if (!grown)
			return NULL;
		reg->targets = grown;
		reg->cap_targets = ncap;
	}
	memmove(&reg->targets[pos + 1], &reg->targets[pos],
		(reg->nr_targets - pos) * sizeof(*reg->targets));
	reg->nr_targets++;
	reg->targets[pos] = (struct reg_target){ .tgid = tgid };
	return &reg->targets[pos];
}

/*
 * Forgets the targets that had no series at this scrape: their label sets
 * are exported by nobody any more. The kernel keeps a target's series after
 * it exits, so this only happens when series leave the kernel map; it keeps
 * the registry within max_per_target times the targets that have series.
 */
static void reg_prune(struct series_registry *reg)
{
	size_t i, kept = 0;
	bool gone = false;

	for (i = 0; i < reg->nr_targets; i++)
		gone |= reg->targets[i].seen != reg->generation;
	if (!gone)
		return;
	for (i = 0; i < reg->nr_buckets; i++) {
		struct reg_entry **pp = &reg->buckets[i];

		while (*pp) {
			struct reg_entry *e = *pp;
			size_t pos;
			const struct reg_target *t = find_target(reg, e->tgid, &pos);

			if (t && t->seen == reg->generation) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			free(e);
			reg->nr_entries--;
		}
	}
	for (i = 0; i < reg->nr_targets; i++)
		if (reg->targets[i].seen == reg->generation)
			reg->targets[kept++] = reg->targets[i];
	reg->nr_targets = kept;
}

static int memo_grow(struct series_registry *reg)
{
	size_t n = reg->nr_memo_buckets * 2;
	struct route_memo **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < reg->nr_memo_buckets; i++) {
		struct route_memo *m = reg->memo[i], *next;

		for (; m; m = next) {
			next = m->next;
			m->next = b[m->hash & (n - 1)];
			b[m->hash & (n - 1)] = m;
		}
	}
	free(reg->memo);
	reg->memo = b;
	reg->nr_memo_buckets = n;
	return 0;
}

/* The route of path, resolved at the first scrape that has it; NULL when out of memory. */
static const struct route_memo *memo_route(struct series_registry *reg,
					   const struct route_rules *rules, const char *path)
{
	size_t plen = strlen(path), rlen;
	__u64 hash = fnv1a(FNV_OFFSET, path, plen);
	char route[OA_MAX_ROUTE];
	struct route_memo *m;
	bool ignored;

	for (m = reg->memo[hash & (reg->nr_memo_buckets - 1)]; m; m = m->next) {
		if (m->hash == hash && !strcmp(m->path, path)) {
			m->seen = reg->generation;
			return m;
		}
	}
	ignored = route_resolve(rules, path, route, sizeof(route));
	rlen = strlen(route);
	if (reg->nr_memo >= reg->nr_memo_buckets && memo_grow(reg))
		return NULL;
	m = malloc(sizeof(*m) + plen + 1 + rlen + 1);
	if (!m)
		return NULL;
	m->hash = hash;
	m->seen = reg->generation;
	m->ignored = ignored;
	memcpy(m->path, path, plen + 1);
	m->route = m->path + plen + 1;
	memcpy(m->route, route, rlen + 1);
	m->next = reg->memo[hash & (reg->nr_memo_buckets - 1)];
	reg->memo[hash & (reg->nr_memo_buckets - 1)] = m;
	reg->nr_memo++;
	return m;
}

/* Forgets the paths the kernel map no longer had at this scrape. */
static void memo_sweep(struct series_registry *reg)
{
	for (size_t i = 0; i < reg->nr_memo_buckets; i++) {
		struct route_memo **pp = &reg->memo[i];

		while (*pp) {
			struct route_memo *m = *pp;

			if (m->seen == reg->generation) {
				pp = &m->next;
				continue;
			}
			*pp = m->next;
			free(m);
			reg->nr_memo--;
		}
	}
}

int aggregator_init(struct aggregator *agg, const struct route_rules *rules,
		    unsigned int max_per_target)
{
	memset(agg, 0, sizeof(*agg));
	agg->rules = rules;
	agg->max_per_target = max_per_target;
	agg->reg = calloc(1, sizeof(*agg->reg));
	if (!agg->reg)
		return -ENOMEM;
	agg->reg->buckets = calloc(REG_MIN_BUCKETS, sizeof(*agg->reg->buckets));
	agg->reg->memo = calloc(REG_MIN_BUCKETS, sizeof(*agg->reg->memo));
	agg->reg->nr_buckets = REG_MIN_BUCKETS;
	agg->reg->nr_memo_buckets = REG_MIN_BUCKETS;
	if (!agg->reg->buckets || !agg->reg->memo) {
		aggregator_free(agg);
		return -ENOMEM;
	}
	return 0;
}

void aggregator_free(struct aggregator *agg)
{
	struct series_registry *reg;

	if (!agg || !agg->reg)
		return;
	reg = agg->reg;
	for (size_t i = 0; reg->buckets && i < reg->nr_buckets; i++) {
		struct reg_entry *e = reg->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	for (size_t i = 0; reg->memo && i < reg->nr_memo_buckets; i++) {
		struct route_memo *m = reg->memo[i], *next;

		for (; m; m = next) {
			next = m->next;
			free(m);
		}
	}
	free(reg->buckets);
	free(reg->memo);
	free(reg->targets);
	free(reg);
	agg->reg = NULL;
}

size_t aggregator_admitted(const struct aggregator *agg)
{
	return agg && agg->reg ? agg->reg->nr_entries : 0;
}

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

/*
 * Label order, the order new label sets of a target are admitted in at one
 * scrape (docs/configuration.md): method, status, version, error, route.
 */
static int cmp_series(const void *pa, const void *pb)
{
	const struct oa_series *a = pa, *b = pb;

	if (a->overflow != b->overflow)
		return a->overflow < b->overflow ? -1 : 1;
	/* overflow series differ only by status and error (what the renderer filters on) */
	if (!a->overflow && a->method != b->method)
		return a->method < b->method ? -1 : 1;
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (!a->overflow && a->version != b->version)
		return a->version < b->version ? -1 : 1;
	if (a->error != b->error)
		return a->error < b->error ? -1 : 1;
	return a->overflow ? 0 : strncmp(a->route, b->route, OA_MAX_ROUTE);
}

/* series_cmp for qsort. */
static int cmp_exported(const void *a, const void *b)
{
	return series_cmp(a, b);
}

size_t series_merge(struct oa_series *series, size_t n)
{
	size_t out = 0;

	if (!n)
		return 0;
	qsort(series, n, sizeof(*series), cmp_exported);
	for (size_t i = 1; i < n; i++) {
		if (!series_cmp(&series[out], &series[i])) {
			http_stats_add(&series[out].stats, &series[i].stats);
			continue;
		}
		series[++out] = series[i];
	}
	return out + 1;
}

/* By target, then as series_merge orders. */
static int cmp_kernel_series(const void *pa, const void *pb)
{
	const struct kernel_series *a = *(const struct kernel_series *const *)pa;
	const struct kernel_series *b = *(const struct kernel_series *const *)pb;

	if (a->tgid != b->tgid)
		return a->tgid < b->tgid ? -1 : 1;
	return cmp_series(&a->s, &b->s);
}

/*
 * The series of one target, v[0..n) sorted: equal label sets summed, each
 * exported if admitted (now or before) and otherwise folded into the
 * target's overflow series. Appends to out (at most n); returns -ENOMEM or 0.
 */
static int cap_target(struct aggregator *agg, struct kernel_series **v, size_t n,
		      struct oa_series *out, size_t *nr_out, __u64 *overflowed)
{
	struct series_registry *reg = agg->reg;
	struct reg_target *t = reg_target(reg, v[0]->tgid);
	size_t i = 0;

	if (!t)
		return -ENOMEM;
	t->seen = reg->generation;
	while (i < n) {
		struct oa_series *acc = &out[*nr_out];
		__u64 hash;

		*acc = v[i]->s;
		for (i++; i < n && !cmp_series(acc, &v[i]->s); i++)
			http_stats_add(&acc->stats, &v[i]->s.stats);
		(*nr_out)++;
		hash = label_hash(t->tgid, acc);
		if (reg_has(reg, hash, t->tgid, acc))
			continue;
		if (t->admitted < agg->max_per_target) {
			if (reg_add(reg, hash, t->tgid, acc))
				return -ENOMEM;
			t->admitted++;
			continue;
		}
		/* folded: series_merge sums it into the overflow series of its status and error */
		acc->overflow = 1;
		acc->method = OA_METHOD_OTHER;
		acc->version = 0;
		memset(acc->route, 0, sizeof(acc->route));
		*overflowed += acc->stats.count;
	}
	return 0;
}

int aggregate_series(struct aggregator *agg, struct kernel_series *in, size_t n,
		     struct oa_snapshot *snap)
{
	struct kernel_series **v = calloc(n ? n : 1, sizeof(*v));
	struct oa_series *out = calloc(n ? n : 1, sizeof(*out));
	size_t i, m = 0, nr_out = 0;
	int err = 0;

	snap->series = NULL;
	snap->nr_series = 0;
	snap->requests_ignored = 0;
	snap->series_overflowed = 0;
	if (!v || !out || !agg->reg) {
		err = -ENOMEM;
		goto cleanup;
	}
	agg->reg->generation++;
	for (i = 0; i < n; i++) {
		struct oa_series *s = &in[i].s;
		const struct route_memo *r;

		s->route[OA_MAX_ROUTE - 1] = '\0';
		r = memo_route(agg->reg, agg->rules, s->route);
		if (!r) {
			err = -ENOMEM;
			goto cleanup;
		}
		if (r->ignored) {
			snap->requests_ignored += s->stats.count;
			continue;
		}
		memcpy(s->route, r->route, strlen(r->route) + 1);
		s->overflow = 0;
		v[m++] = &in[i];
	}
	qsort(v, m, sizeof(*v), cmp_kernel_series);
	for (i = 0; i < m && !err;) {
		size_t j = i + 1;

		while (j < m && v[j]->tgid == v[i]->tgid)
			j++;
		err = cap_target(agg, v + i, j - i, out, &nr_out, &snap->series_overflowed);
		i = j;
	}
	if (err)
		goto cleanup;
	reg_prune(agg->reg);
	memo_sweep(agg->reg);
	snap->nr_series = series_merge(out, nr_out);
	snap->series = out;
	out = NULL;
cleanup:
	free(v);
	free(out);
	return err;
}

/* The kernel series read so far, grown as the map is read. */
struct series_buf {
	struct kernel_series *v;
	size_t n, cap;
	int nr_cpus;
};

/* map_walk's callback: appends one kernel series, its per-CPU values summed; -ENOMEM. */
static int series_append(const void *k, const void *v, void *arg)
{
	const struct series_key *key = k;
	const struct http_stats *vals = v;
	struct series_buf *b = arg;
	struct oa_series *s;

	if (!key) { /* the walk starts over */
		b->n = 0;
		return 0;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 256;
		struct kernel_series *grown = realloc(b->v, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		b->v = grown;
		b->cap = ncap;
	}
	b->v[b->n].tgid = key->tgid;
	s = &b->v[b->n++].s;
	memset(s, 0, sizeof(*s));
	s->status = key->status;
	s->method = key->method;
	s->version = key->version;
	s->error = key->error;
	memcpy(s->route, key->path, OA_MAX_PATH);
	s->route[OA_MAX_PATH - 1] = '\0';
	http_stats_sum_cpus(&s->stats, vals, b->nr_cpus);
	return 0;
}

int read_kernel_series(int fd, int nr_cpus, struct kernel_series **out, size_t *n)
{
	struct series_buf b = { .nr_cpus = nr_cpus };
	int err;

	err = map_walk(fd, sizeof(struct series_key), (size_t)nr_cpus * sizeof(struct http_stats),
		       series_append, &b);
	if (err) {
		free(b.v);
		b = (struct series_buf){ 0 };
	}
	*out = b.v;
	*n = b.n;
	return err;
}

static int read_series(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap,
		       int nr_cpus)
{
	struct kernel_series *in;
	size_t n;
	int err;

	err = read_kernel_series(bpf_map__fd(a->skel->maps.series), nr_cpus, &in, &n);
	if (!err)
		err = aggregate_series(agg, in, n, snap);
	free(in);
	return err;
}

/* Lists live targets (forked workers included) and forgets the ones that exited. */
static int read_targets(struct loader *a, struct oa_snapshot *snap)
{
	int fd = bpf_map__fd(a->skel->maps.targets);
	struct oa_target *targets = NULL;
	size_t n = 0, cap = 0;
	__u32 key, next, *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!proc_exists((pid_t)key)) {
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
		targets[n++].pid = key;
	}
	snap->targets = targets;
	snap->nr_targets = n;
	return 0;
}

int aggregate_snapshot(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap)
{
	int nr_cpus = libbpf_num_possible_cpus();
	int err;

	memset(snap, 0, sizeof(*snap));
	if (nr_cpus < 0)
		return nr_cpus;
	snap->bounds = a->bounds;
	snap->nr_bounds = a->nr_bounds;
	snap->size_bounds = a->size_bounds;
	snap->nr_size_bounds = a->nr_size_bounds;
	err = read_percpu_counters(bpf_map__fd(a->skel->maps.events), snap->events, OA_EV_COUNT,
				   nr_cpus);
	if (!err)
		err = read_percpu_counters(bpf_map__fd(a->skel->maps.map_errors), snap->map_errors,
					   OA_ERR_COUNT, nr_cpus);
	if (!err)
		err = read_series(agg, a, snap, nr_cpus);
	if (!err)
		err = clients_read(a, &snap->clients, &snap->nr_clients);
	if (!err)
		err = active_requests_read(a, snap->active);
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
	free(snap->clients);
	snap->series = NULL;
	snap->targets = NULL;
	snap->clients = NULL;
	snap->nr_series = 0;
	snap->nr_targets = 0;
	snap->nr_clients = 0;
}
