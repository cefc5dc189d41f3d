// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Owns the active requests by route (active.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "array.h"
#include "kernel/map_walk.h"
#include "top/active.h"

/* One waiting request: its method and path, routed once the walks are done. */
struct waiting {
	__u8 method;
	char path[OA_MAX_PATH + 1];
};

struct waiting_list {
	struct waiting *v;
	size_t n, cap;
	int err;
};

static void keep(struct waiting_list *l, const struct req_val *r)
{
	struct waiting *grown;

	if (r->client || l->err)
		return;
	grown = array_grow(l->v, &l->cap, l->n, sizeof(*l->v), 64);
	if (!grown) {
		l->err = -ENOMEM;
		return;
	}
	l->v = grown;
	l->v[l->n].method = r->method < OA_METHOD_COUNT ? r->method : OA_METHOD_OTHER;
	memcpy(l->v[l->n].path, r->key.path, OA_MAX_PATH);
	l->v[l->n].path[OA_MAX_PATH] = '\0';
	l->n++;
}

/* map_walk's callbacks: fn(NULL, NULL) means the walk starts over. */
static int conn_waiting(const void *key, const void *value, void *arg)
{
	struct waiting_list *l = arg;
	const struct conn_queue *q = value;

	if (!key)
		l->n = 0;
	else if (q->head != q->tail)
		keep(l, &q->first);
	return 0;
}

static int req_waiting(const void *key, const void *value, void *arg)
{
	struct waiting_list *l = arg;

	if (!key)
		l->n = 0;
	else
		keep(l, value);
	return 0;
}

int top_active_add(struct loader *a, const struct route_rules *rules, struct top_table *t)
{
	struct waiting_list conns = { 0 }, reqs = { 0 };
	char route[OA_MAX_ROUTE];
	int err;

	err = map_walk(bpf_map__fd(a->skel->maps.conns), sizeof(struct conn_key),
		       bpf_map__value_size(a->skel->maps.conns), conn_waiting, &conns);
	if (!err)
		err = map_walk(bpf_map__fd(a->skel->maps.reqs), sizeof(struct req_key),
			       sizeof(struct req_val), req_waiting, &reqs);
	if (!err)
		err = conns.err ? conns.err : reqs.err;
	for (size_t i = 0; !err && i < conns.n + reqs.n; i++) {
		const struct waiting *w = i < conns.n ? &conns.v[i] : &reqs.v[i - conns.n];

		if (!route_resolve(rules, w->path, route, sizeof(route)))
			err = top_table_add_active(t, w->method, route, 1);
	}
	free(conns.v);
	free(reqs.v);
	return err;
}
