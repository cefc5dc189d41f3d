/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A chained hash table whose nodes are embedded first in their users'
 * entries (the registry of admitted label sets, the route memo): the
 * buckets, their growth, and removal by a predicate. Keys and their
 * comparison stay with the users, who hash with hash_bytes.
 */
#ifndef OA_HASH_TABLE_H
#define OA_HASH_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* The first member of an entry: the entry is malloc'd and freed through it. */
struct hash_node {
	struct hash_node *next;
	__u64 hash;
};

/* Zeroed, an empty table: the buckets come with the first node. */
struct hash_table {
	struct hash_node **buckets;
	size_t nr_buckets; /* 0, or a power of two */
	size_t nr_nodes;
};

/* Where a hash starts. */
#define HASH_SEED 0xcbf29ce484222325ULL

/*
 * A hash of p[0..n) continued from h (HASH_SEED to start), for this
 * process's tables only (it depends on the byte order): eight bytes a step,
 * mixed by a multiplication. FNV-1a, a multiplication per byte, was a fifth
 * of a scrape's aggregation at 2000 series (the 136-byte series keys).
 */
__u64 hash_bytes(__u64 h, const void *p, size_t n);

/* Frees every node and the buckets, leaving an empty table; accepts NULL. */
void hash_table_free(struct hash_table *t);

/* The chain a hash falls in: the caller walks it by next, comparing hash first. */
struct hash_node *hash_table_chain(const struct hash_table *t, __u64 hash);

/*
 * Adds node (malloc'd, node->hash set); the table frees it from then on.
 * The buckets are made first (256), or doubled when there are as many
 * nodes as buckets, so that chains stay about one node long.
 * Returns 0, or -ENOMEM with node not added (the caller frees it).
 */
int hash_table_add(struct hash_table *t, struct hash_node *node);

/* Frees every node that keep(node, arg) refuses. */
void hash_table_sweep(struct hash_table *t, bool (*keep)(const struct hash_node *, const void *),
		      const void *arg);

#endif /* OA_HASH_TABLE_H */
