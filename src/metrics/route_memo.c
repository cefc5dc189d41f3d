// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the memo of routes by kernel path: the paths of the last scrape
 * only, each with its route and whether it is ignored. Templates cost a
 * scan per path, and the kernel map holds the same paths scrape after
 * scrape.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/hash_table.h"
#include "metrics/route_memo.h"
#include "metrics/series.h"

struct memo_entry {
	struct hash_node node; /* hashed by path */
	unsigned long seen;    /* the last scrape whose kernel map had the path */
	bool ignored;
	char *route; /* after path, in the same allocation */
	char path[];
};

struct route_memo {
	struct hash_table paths;
};

struct route_memo *route_memo_new(void)
{
	return calloc(1, sizeof(struct route_memo));
}

void route_memo_free(struct route_memo *memo)
{
	if (!memo)
		return;
	hash_table_free(&memo->paths);
	free(memo);
}

static struct memo_entry *memo_find(const struct route_memo *memo, __u64 hash, const char *path)
{
	struct hash_node *n;

	for (n = hash_table_chain(&memo->paths, hash); n; n = n->next) {
		struct memo_entry *e = (struct memo_entry *)n;

		if (n->hash == hash && !strcmp(e->path, path))
			return e;
	}
	return NULL;
}

/* A new entry of path, its route resolved; NULL when out of memory. */
static struct memo_entry *memo_add(struct route_memo *memo, const struct route_rules *rules,
				   const char *path, __u64 hash)
{
	size_t plen = strlen(path), rlen;
	char route[OA_MAX_ROUTE];
	struct memo_entry *e;
	bool ignored;

	ignored = route_resolve(rules, path, route, sizeof(route));
	rlen = strlen(route);
	e = malloc(sizeof(*e) + plen + 1 + rlen + 1);
	if (!e)
		return NULL;
	e->node.hash = hash;
	e->ignored = ignored;
	memcpy(e->path, path, plen + 1);
	e->route = e->path + plen + 1;
	memcpy(e->route, route, rlen + 1);
	if (hash_table_add(&memo->paths, &e->node)) {
		free(e);
		return NULL;
	}
	return e;
}

int route_memo_resolve(struct route_memo *memo, const struct route_rules *rules, const char *path,
		       unsigned long scrape, const char **route, bool *ignored)
{
	__u64 hash = hash_bytes(HASH_SEED, path, strlen(path));
	struct memo_entry *e = memo_find(memo, hash, path);

	if (!e)
		e = memo_add(memo, rules, path, hash);
	if (!e)
		return -ENOMEM;
	e->seen = scrape;
	*route = e->route;
	*ignored = e->ignored;
	return 0;
}

static bool seen_at(const struct hash_node *n, const void *scrape)
{
	return ((const struct memo_entry *)n)->seen == *(const unsigned long *)scrape;
}

void route_memo_sweep(struct route_memo *memo, unsigned long scrape)
{
	hash_table_sweep(&memo->paths, seen_at, &scrape);
}
