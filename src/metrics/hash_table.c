// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The chained hash table of the registry and the route memo: buckets
 * doubled as nodes come, and nodes freed by a predicate as the scrapes
 * forget them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/hash_table.h"

#define MIN_BUCKETS 256
/* 2^64 / golden ratio, odd: a multiplication by it spreads every bit upwards. */
#define HASH_MUL 0x9e3779b97f4a7c15ULL

__u64 hash_bytes(__u64 h, const void *p, size_t n)
{
	const unsigned char *b = p;
	__u64 w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, sizeof(w));
		h = (h ^ w) * HASH_MUL;
		h ^= h >> 32; /* the high bits down: buckets are chosen by the low ones */
	}
	w = 0;
	memcpy(&w, b, n);
	/* the length too, so that "a" then "bc" and "ab" then "c" differ */
	h = (h ^ w ^ (__u64)n << 56) * HASH_MUL;
	return h ^ h >> 29;
}

static bool keep_none(const struct hash_node *node, const void *arg)
{
	(void)node;
	(void)arg;
	return false;
}

void hash_table_free(struct hash_table *t)
{
	if (!t)
		return;
	hash_table_sweep(t, keep_none, NULL);
	free(t->buckets);
	*t = (struct hash_table){ 0 };
}

struct hash_node *hash_table_chain(const struct hash_table *t, __u64 hash)
{
	return t->nr_buckets ? t->buckets[hash & (t->nr_buckets - 1)] : NULL;
}

static void link_node(struct hash_node **buckets, size_t nr_buckets, struct hash_node *node)
{
	struct hash_node **head = &buckets[node->hash & (nr_buckets - 1)];

	node->next = *head;
	*head = node;
}

static int grow(struct hash_table *t)
{
	size_t n = t->nr_buckets ? 2 * t->nr_buckets : MIN_BUCKETS;
	struct hash_node **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nr_buckets; i++) {
		struct hash_node *node = t->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			link_node(b, n, node);
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nr_buckets = n;
	return 0;
}

int hash_table_add(struct hash_table *t, struct hash_node *node)
{
	if (t->nr_nodes >= t->nr_buckets && grow(t))
		return -ENOMEM;
	link_node(t->buckets, t->nr_buckets, node);
	t->nr_nodes++;
	return 0;
}

void hash_table_sweep(struct hash_table *t, bool (*keep)(const struct hash_node *, const void *),
		      const void *arg)
{
	for (size_t i = 0; t->buckets && i < t->nr_buckets; i++) {
		struct hash_node **pp = &t->buckets[i];

		while (*pp) {
			struct hash_node *node = *pp;

			if (keep(node, arg)) {
				pp = &node->next;
				continue;
			}
			*pp = node->next;
			free(node);
			t->nr_nodes--;
		}
	}
}
