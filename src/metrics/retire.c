// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the choice of the kernel series to retire (retire.h). A series of a
 * live process is deleted only after a whole idle period: the kernel adds
 * to a series in place, and a request recorded at the instant its entry is
 * deleted would be lost, so only series nobody is adding to are touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/retire.h"

/* A live series' count as last seen, and since when it has not changed. */
struct watched {
	struct hash_node node; /* hashed by key_hash */
	struct series_key key;
	__u8 spilled; /* the same key may be in both maps */
	__u64 count;
	__u64 since_ns;
	unsigned long pass;
};

void retire_watch_free(struct retire_watch *w)
{
	if (w)
		hash_table_free(&w->seen);
}

/*
 * The key's fields, its path up to its end and where it was read: equal keys
 * (compared whole) hash the same, and the bytes after a path's NUL, zeros
 * in practice, are not hashed again and again.
 */
static __u64 key_hash(const struct kernel_series *ks)
{
	__u64 h = hash_bytes(HASH_SEED, &ks->key, offsetof(struct series_key, path));

	h = hash_bytes(h, ks->key.path, strnlen(ks->key.path, sizeof(ks->key.path)));
	return hash_bytes(h, &ks->spilled, sizeof(ks->spilled));
}

/* How long ks has gone without a request (0 the first time it is seen); -ENOMEM. */
static int idle_for(struct retire_watch *w, const struct kernel_series *ks, __u64 now_ns,
		    __u64 *idle_ns)
{
	__u64 h = key_hash(ks);
	struct hash_node *n;
	struct watched *e;

	for (n = hash_table_chain(&w->seen, h); n; n = n->next) {
		e = (struct watched *)n;
		if (n->hash != h || e->spilled != ks->spilled ||
		    memcmp(&e->key, &ks->key, sizeof(e->key)))
			continue;
		e->pass = w->pass;
		if (e->count != ks->s.stats.count) {
			e->count = ks->s.stats.count;
			e->since_ns = now_ns;
		}
		*idle_ns = now_ns - e->since_ns;
		return 0;
	}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->node.hash = h;
	e->key = ks->key;
	e->spilled = ks->spilled;
	e->count = ks->s.stats.count;
	e->since_ns = now_ns;
	e->pass = w->pass;
	if (hash_table_add(&w->seen, &e->node)) {
		free(e);
		return -ENOMEM;
	}
	*idle_ns = 0;
	return 0;
}

/* hash_table_sweep's predicate: seen at this pass (the others left the kernel). */
static bool seen_now(const struct hash_node *n, const void *arg)
{
	return ((const struct watched *)n)->pass == *(const unsigned long *)arg;
}

/*
 * Whether ks need not keep its kernel entry: its requests are exported
 * under labels other than its own, or it is in the small spill map.
 */
static bool foldable(const struct kernel_series *ks)
{
	return ks->spilled || ks->s.overflow || ks->ignored ||
	       strncmp(ks->key.path, ks->s.route, sizeof(ks->key.path)) != 0;
}

int retire_choose(struct retire_watch *w, struct kernel_series *in, size_t n, size_t map_max,
		  __u64 now_ns, target_alive_fn alive, void *arg)
{
	size_t in_map = 0;
	bool crowded;
	__u32 last_tgid = 0;
	bool last_alive = false;
	int nr = 0;

	for (size_t i = 0; i < n; i++)
		in_map += !in[i].spilled;
	crowded = map_max && in_map >= map_max - map_max / 4;
	w->pass++;
	for (size_t i = 0; i < n; i++) {
		struct kernel_series *ks = &in[i];
		__u64 idle_ns;

		ks->retire = 0;
		if (i == 0 || ks->tgid != last_tgid) {
			last_tgid = ks->tgid;
			last_alive = alive(ks->tgid, arg);
		}
		ks->gone = !last_alive;
		if (ks->gone) {
			ks->retire = 1;
			nr++;
			continue;
		}
		if (idle_for(w, ks, now_ns, &idle_ns))
			return -ENOMEM;
		if (idle_ns >= RETIRE_IDLE_NS && (crowded || foldable(ks))) {
			ks->retire = 1;
			nr++;
		}
	}
	hash_table_sweep(&w->seen, seen_now, &w->pass);
	return nr;
}
