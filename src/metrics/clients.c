// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Outgoing requests of the targets, as the kernel counted them in
 * client_series (by server address, port and outcome), and the requests
 * waiting for a response, counted from the kernel's queues (conns and reqs)
 * at scrape time, so the gauge cannot drift. The maps are read with
 * map_walk (batched).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "metrics/clients.h"
#include "kernel/map_walk.h"

static int cmp_client(const void *pa, const void *pb)
{
	const struct oa_client_series *a = pa, *b = pb;
	int c = strcmp(a->server_address, b->server_address);

	if (c)
		return c;
	if (a->server_port != b->server_port)
		return a->server_port < b->server_port ? -1 : 1;
	if (a->method != b->method)
		return a->method < b->method ? -1 : 1;
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->error != b->error)
		return a->error < b->error ? -1 : 1;
	return a->version < b->version ? -1 : a->version > b->version;
}

size_t clients_merge(struct oa_client_series *c, size_t n)
{
	size_t out = 0;

	if (!n)
		return 0;
	qsort(c, n, sizeof(*c), cmp_client);
	for (size_t i = 1; i < n; i++) {
		struct oa_client_series *dst = &c[out];

		if (cmp_client(dst, &c[i])) {
			c[++out] = c[i];
			continue;
		}
		http_stats_add(&dst->stats, &c[i].stats);
	}
	return out + 1;
}

/* The client series read so far, grown as the map is read. */
struct client_buf {
	struct oa_client_series *v;
	size_t n, cap;
	int nr_cpus;
};

/* map_walk's callback: appends one client series, its per-CPU values summed; -ENOMEM. */
static int client_append(const void *k, const void *v, void *arg)
{
	const struct client_key *key = k;
	const struct http_stats *vals = v;
	struct client_buf *b = arg;
	struct oa_client_series *out;

	if (!key) { /* the walk starts over */
		b->n = 0;
		return 0;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 16;
		struct oa_client_series *grown = realloc(b->v, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		b->v = grown;
		b->cap = ncap;
	}
	out = &b->v[b->n++];
	memset(out, 0, sizeof(*out));
	out->status = key->status;
	out->server_port = key->port;
	out->method = key->method;
	out->version = key->version;
	out->error = key->error;
	if (!inet_ntop(key->family == 6 ? AF_INET6 : AF_INET, key->addr, out->server_address,
		       sizeof(out->server_address)))
		strcpy(out->server_address, "unknown");
	http_stats_sum_cpus(&out->stats, vals, b->nr_cpus);
	return 0;
}

int clients_read(struct loader *a, struct oa_client_series **out, size_t *nr)
{
	struct client_buf b = { .nr_cpus = libbpf_num_possible_cpus() };
	int err;

	*out = NULL;
	*nr = 0;
	if (b.nr_cpus < 0)
		return b.nr_cpus;
	err = map_walk(bpf_map__fd(a->skel->maps.client_series), sizeof(struct client_key),
		       (size_t)b.nr_cpus * sizeof(struct http_stats), client_append, &b);
	if (err) {
		free(b.v);
		return err;
	}
	*out = b.v;
	*nr = clients_merge(b.v, b.n);
	return 0;
}

/* Adds a waiting request of the target (not one it sent) to active. */
static void count_active(__u64 *active, const struct req_val *r)
{
	if (!r->client)
		active[r->method < OA_METHOD_COUNT ? r->method : OA_METHOD_OTHER]++;
}

/* map_walk's callback over conns: the oldest waiting request is kept in the entry. */
static int conn_active(const void *key, const void *value, void *arg)
{
	const struct conn_queue *q = value;

	if (!key)
		memset(arg, 0, OA_METHOD_COUNT * sizeof(__u64)); /* the walk starts over */
	else if (q->head != q->tail)
		count_active(arg, &q->first);
	return 0;
}

/* map_walk's callback over reqs: the requests pipelined behind the oldest. */
static int req_active(const void *key, const void *value, void *arg)
{
	if (!key)
		memset(arg, 0, OA_METHOD_COUNT * sizeof(__u64)); /* the walk starts over */
	else
		count_active(arg, value);
	return 0;
}

int active_requests_read(struct loader *a, __u64 active[OA_METHOD_COUNT])
{
	__u64 pipelined[OA_METHOD_COUNT] = { 0 };
	int err;

	memset(active, 0, OA_METHOD_COUNT * sizeof(active[0]));
	err = map_walk(bpf_map__fd(a->skel->maps.conns), sizeof(struct conn_key),
		       bpf_map__value_size(a->skel->maps.conns), conn_active, active);
	if (!err)
		err = map_walk(bpf_map__fd(a->skel->maps.reqs), sizeof(struct req_key),
			       sizeof(struct req_val), req_active, pipelined);
	for (int i = 0; i < OA_METHOD_COUNT; i++)
		active[i] += pipelined[i];
	return err;
}
