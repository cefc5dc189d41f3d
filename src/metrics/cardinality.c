// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the cardinality cap: the registry of label sets admitted per target
 * (a hash table of label sets, and the targets sorted by pid with how many
 * each has admitted), admission in the order series first appeared in the
 * kernel, folding into overflow series, and forgetting the targets whose
 * series left the kernel map.
 *
 * The result depends only on the kernel series and the registry, so
 * scrapes agree with each other: a label set admitted once is exported
 * for good, and once a target has max_per_target admitted, each new label
 * set folds into that target's overflow series at every scrape.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "metrics/cardinality.h"
#include "metrics/hash_table.h"

/* A label set one target was allowed to export. */
struct label_set {
	struct hash_node node; /* hashed by label_hash */
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
	unsigned long seen; /* the last scrape that had series of it */
};

struct series_registry {
	unsigned int max_per_target;
	struct hash_table admitted; /* struct label_set */
	struct reg_target *targets; /* sorted by tgid */
	size_t nr_targets;
	size_t cap_targets;
	unsigned long scrape; /* the scrape being capped, for prune */
};

struct series_registry *series_registry_new(unsigned int max_per_target)
{
	struct series_registry *reg = calloc(1, sizeof(*reg));

	if (reg)
		reg->max_per_target = max_per_target;
	return reg;
}

void series_registry_free(struct series_registry *reg)
{
	if (!reg)
		return;
	hash_table_free(&reg->admitted);
	free(reg->targets);
	free(reg);
}

static __u64 label_hash(__u32 tgid, const struct oa_series *s)
{
	const __u64 labels[2] = {
		(__u64)tgid << 32 | (__u64)s->status << 16 | (__u64)s->method << 8 | s->version,
		s->error,
	};

	return hash_bytes(hash_bytes(HASH_SEED, labels, sizeof(labels)), s->route,
			  strnlen(s->route, OA_MAX_ROUTE));
}

static bool reg_has(const struct series_registry *reg, __u64 hash, __u32 tgid,
		    const struct oa_series *s)
{
	const struct hash_node *n;

	for (n = hash_table_chain(&reg->admitted, hash); n; n = n->next) {
		const struct label_set *e = (const struct label_set *)n;

		if (n->hash == hash && e->tgid == tgid && e->status == s->status &&
		    e->method == s->method && e->version == s->version && e->error == s->error &&
		    !strncmp(e->route, s->route, OA_MAX_ROUTE))
			return true;
	}
	return false;
}

static int reg_add(struct series_registry *reg, __u64 hash, __u32 tgid, const struct oa_series *s)
{
	size_t len = strnlen(s->route, OA_MAX_ROUTE - 1);
	struct label_set *e = malloc(sizeof(*e) + len + 1);

	if (!e)
		return -ENOMEM;
	e->node.hash = hash;
	e->tgid = tgid;
	e->status = s->status;
	e->method = s->method;
	e->version = s->version;
	e->error = s->error;
	memcpy(e->route, s->route, len);
	e->route[len] = '\0';
	if (hash_table_add(&reg->admitted, &e->node)) {
		free(e);
		return -ENOMEM;
	}
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
	t = array_grow(reg->targets, &reg->cap_targets, reg->nr_targets, sizeof(*t), 16);
	if (!t)
		return NULL;
	reg->targets = t;
	memmove(&reg->targets[pos + 1], &reg->targets[pos],
		(reg->nr_targets - pos) * sizeof(*reg->targets));
	reg->nr_targets++;
	reg->targets[pos] = (struct reg_target){ .tgid = tgid };
	return &reg->targets[pos];
}

/* hash_table_sweep's predicate: the label set's target had series at this scrape. */
static bool target_seen(const struct hash_node *n, const void *arg)
{
	const struct series_registry *reg = arg;
	const struct reg_target *t;
	size_t pos;

	t = find_target(reg, ((const struct label_set *)n)->tgid, &pos);
	return t && t->seen == reg->scrape;
}

/*
 * Forgets the targets that had no series at this scrape: all of them left
 * the kernel map (retire.c), and what they counted is exported from the
 * retired store in the form it had. It keeps the registry within
 * max_per_target times the targets that have series.
 */
static void reg_prune(struct series_registry *reg)
{
	size_t i, kept = 0;
	bool gone = false;

	for (i = 0; i < reg->nr_targets; i++)
		gone |= reg->targets[i].seen != reg->scrape;
	if (!gone)
		return;
	hash_table_sweep(&reg->admitted, target_seen, reg);
	for (i = 0; i < reg->nr_targets; i++)
		if (reg->targets[i].seen == reg->scrape)
			reg->targets[kept++] = reg->targets[i];
	reg->nr_targets = kept;
}

/*
 * Label order: how a target's series are grouped into label sets, and the
 * order new label sets that first appeared at the same time are admitted
 * in (docs/configuration.md): method, status, version, error, route. It is
 * not the export order (series_cmp, route before status), which is the
 * renderer's to choose.
 */
static int cmp_labels(const struct oa_series *a, const struct oa_series *b)
{
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

/* By target, then in label order; for qsort over pointers. */
static int cmp_target_labels(const void *pa, const void *pb)
{
	const struct kernel_series *a = *(const struct kernel_series *const *)pa;
	const struct kernel_series *b = *(const struct kernel_series *const *)pb;

	if (a->tgid != b->tgid)
		return a->tgid < b->tgid ? -1 : 1;
	return cmp_labels(&a->s, &b->s);
}

/* A label set new to its target: its sum in out, and the kernel series v[first..end) it sums. */
struct fresh {
	struct oa_series *acc;
	size_t first, end;
};

/* Admission order among new label sets: the first seen first, label order for ties. */
static int cmp_first_seen(const void *pa, const void *pb)
{
	const struct oa_series *a = ((const struct fresh *)pa)->acc;
	const struct oa_series *b = ((const struct fresh *)pb)->acc;

	if (a->stats.first_ns != b->stats.first_ns)
		return a->stats.first_ns < b->stats.first_ns ? -1 : 1;
	return cmp_labels(a, b);
}

/*
 * The series of one target, v[0..n) sorted: equal label sets summed (into
 * out, at most n), then each exported if admitted before; the new ones are
 * admitted in the order they first appeared in the kernel while the target
 * has room, so that a flood between two scrapes cannot push out a route
 * that came before it, and the rest fold into the target's overflow
 * series. fresh has room for n entries. Returns -ENOMEM or 0.
 */
static int cap_target(struct series_registry *reg, struct kernel_series **v, size_t n,
		      struct oa_series *out, size_t *nr_out, __u64 *overflowed, struct fresh *fresh)
{
	struct reg_target *t = reg_target(reg, v[0]->tgid);
	size_t i = 0, nr_fresh = 0;

	if (!t)
		return -ENOMEM;
	t->seen = reg->scrape;
	while (i < n) {
		struct oa_series *acc = &out[*nr_out];
		size_t first = i;

		*acc = v[i]->s;
		for (i++; i < n && !cmp_labels(acc, &v[i]->s); i++)
			http_stats_add(&acc->stats, &v[i]->s.stats);
		(*nr_out)++;
		if (!reg_has(reg, label_hash(t->tgid, acc), t->tgid, acc))
			fresh[nr_fresh++] = (struct fresh){ acc, first, i };
	}
	qsort(fresh, nr_fresh, sizeof(*fresh), cmp_first_seen);
	for (i = 0; i < nr_fresh; i++) {
		struct oa_series *acc = fresh[i].acc;

		if (t->admitted < reg->max_per_target) {
			if (reg_add(reg, label_hash(t->tgid, acc), t->tgid, acc))
				return -ENOMEM;
			t->admitted++;
			continue;
		}
		/* folded: series_merge sums it into the overflow series of its status and error */
		series_to_overflow(acc);
		*overflowed += acc->stats.count;
		/* the kernel series it sums say so too: they are retired in that form */
		for (size_t j = fresh[i].first; j < fresh[i].end; j++)
			v[j]->s.overflow = 1;
	}
	return 0;
}

int series_registry_cap(struct series_registry *reg, unsigned long scrape, struct kernel_series **v,
			size_t n, struct oa_series *out, size_t *nr_out, __u64 *overflowed)
{
	struct fresh *fresh = calloc(n ? n : 1, sizeof(*fresh));
	int err = 0;

	if (!fresh)
		return -ENOMEM;
	reg->scrape = scrape;
	qsort(v, n, sizeof(*v), cmp_target_labels);
	for (size_t i = 0; i < n && !err;) {
		size_t j = i + 1;

		while (j < n && v[j]->tgid == v[i]->tgid)
			j++;
		err = cap_target(reg, v + i, j - i, out, nr_out, overflowed, fresh);
		i = j;
	}
	if (!err)
		reg_prune(reg);
	free(fresh);
	return err;
}
