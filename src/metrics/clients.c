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
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "metrics/clients.h"
#include "kernel/map_walk.h"
#include "kernel/series_take.h"
#include "metrics/stats_map.h"

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
	return http_stats_merge(c, n, sizeof(*c), offsetof(struct oa_client_series, stats),
				cmp_client);
}

/* A client series as the kernel keyed it: its key, to take it away when its target is gone. */
struct kernel_client {
	struct client_key key;
	struct oa_client_series c;
};

/* stats_map_read's fill for the client series map: the key's labels, the server as text. */
static struct http_stats *fill_client(void *elem, const void *k)
{
	const struct client_key *key = k;
	struct kernel_client *kc = elem;
	struct oa_client_series *c = &kc->c;

	kc->key = *key;
	c->status = key->status;
	c->server_port = key->port;
	c->method = key->method;
	c->version = key->version;
	c->error = key->error;
	if (!inet_ntop(key->family == 6 ? AF_INET6 : AF_INET, key->addr, c->server_address,
		       sizeof(c->server_address)))
		strcpy(c->server_address, "unknown");
	return &c->stats;
}

/* Moves the client series of targets that are gone from the kernel map into r. */
static int retire_clients(int fd, int nr_cpus, struct kernel_client *kc, size_t n,
			  struct retired *r, target_alive_fn alive, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		struct oa_client_series c = kc[i].c;
		int err;

		if (alive(kc[i].key.tgid, arg))
			continue;
		err = series_take(fd, &kc[i].key, nr_cpus, &c.stats);
		if (err == -ENOENT)
			continue;
		if (!err)
			err = retired_add_client(r, &c);
		if (err)
			return err;
	}
	retired_settle(r);
	return 0;
}

int clients_read(struct loader *a, struct retired *r, target_alive_fn alive, void *arg,
		 struct oa_client_series **out, size_t *nr)
{
	struct stats_array kc = { .size = sizeof(struct kernel_client) };
	int fd = bpf_map__fd(a->skel->maps.client_series);
	int nr_cpus = loader_series_cpus(a);
	struct oa_client_series *c;
	size_t n = 0;
	int err;

	*out = NULL;
	*nr = 0;
	if (nr_cpus < 0)
		return nr_cpus;
	err = stats_map_read(fd, sizeof(struct client_key), nr_cpus, fill_client, &kc);
	if (err)
		return err;
	c = calloc(kc.n + r->nr_clients + 1, sizeof(*c));
	if (!c) {
		free(kc.v);
		return -ENOMEM;
	}
	/* this scrape exports what was read; what is retired now is kept for the next */
	for (size_t i = 0; i < kc.n; i++)
		c[n++] = ((struct kernel_client *)kc.v)[i].c;
	if (r->nr_clients)
		memcpy(c + n, r->clients, r->nr_clients * sizeof(*c));
	n += r->nr_clients;
	err = retire_clients(fd, nr_cpus, kc.v, kc.n, r, alive, arg);
	free(kc.v);
	if (err) {
		free(c);
		return err;
	}
	*out = c;
	*nr = clients_merge(c, n);
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
