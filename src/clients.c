// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Outgoing requests of the targets, as the kernel counted them in
 * client_series (by server address, port and outcome), and the requests
 * waiting for a response, counted from the kernel's queues (conns and reqs)
 * at scrape time, so the gauge cannot drift.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "http.skel.h"
#include "clients.h"

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
		dst->count += c[i].count;
		dst->sum_ns += c[i].sum_ns;
		for (int b = 0; b < OA_NR_BUCKETS; b++)
			dst->buckets[b] += c[i].buckets[b];
		size_hist_add(&dst->req_body, &c[i].req_body);
		size_hist_add(&dst->resp_body, &c[i].resp_body);
	}
	return out + 1;
}

static void fill(struct oa_client_series *out, const struct client_key *k,
		 const struct series_val *vals, int nr_cpus)
{
	memset(out, 0, sizeof(*out));
	out->status = k->status;
	out->server_port = k->port;
	out->method = k->method;
	out->version = k->version;
	out->error = k->error;
	if (!inet_ntop(k->family == 6 ? AF_INET6 : AF_INET, k->addr, out->server_address,
		       sizeof(out->server_address)))
		strcpy(out->server_address, "unknown");
	for (int c = 0; c < nr_cpus; c++) {
		out->count += vals[c].count;
		out->sum_ns += vals[c].sum_ns;
		for (int b = 0; b < OA_NR_BUCKETS; b++)
			out->buckets[b] += vals[c].buckets[b];
		size_hist_add(&out->req_body, &vals[c].req_body);
		size_hist_add(&out->resp_body, &vals[c].resp_body);
	}
}

int clients_read(struct bpf_agent *a, struct oa_client_series **out, size_t *nr)
{
	int fd = bpf_map__fd(a->skel->maps.client_series);
	int nr_cpus = libbpf_num_possible_cpus();
	struct client_key key, next, *prev = NULL;
	struct oa_client_series *list = NULL;
	struct series_val *vals;
	size_t n = 0, cap = 0;

	*out = NULL;
	*nr = 0;
	if (nr_cpus < 0)
		return nr_cpus;
	vals = calloc((size_t)nr_cpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue; /* deleted since get_next_key */
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct oa_client_series *grown = realloc(list, ncap * sizeof(*grown));

			if (!grown) {
				free(list);
				free(vals);
				return -ENOMEM;
			}
			list = grown;
			cap = ncap;
		}
		fill(&list[n++], &key, vals, nr_cpus);
	}
	free(vals);
	*out = list;
	*nr = clients_merge(list, n);
	return 0;
}

/* Adds a waiting request of the target (not one it sent) to active. */
static void count_active(__u64 active[OA_METHOD_COUNT], const struct req_val *r)
{
	if (!r->client)
		active[r->method < OA_METHOD_COUNT ? r->method : OA_METHOD_OTHER]++;
}

int active_requests_read(struct bpf_agent *a, __u64 active[OA_METHOD_COUNT])
{
	int fd = bpf_map__fd(a->skel->maps.reqs);
	int cfd = bpf_map__fd(a->skel->maps.conns);
	size_t conn_size = bpf_map__value_size(a->skel->maps.conns);
	struct req_key key, next, *prev = NULL;
	struct conn_key ckey, cnext, *cprev = NULL;
	struct req_val val;
	void *conn;

	memset(active, 0, OA_METHOD_COUNT * sizeof(active[0]));
	/* the oldest waiting request of each connection is kept in its conns entry */
	conn = calloc(1, conn_size);
	if (!conn)
		return -ENOMEM;
	while (!bpf_map_get_next_key(cfd, cprev, &cnext)) {
		const struct conn_queue *q = conn;

		ckey = cnext;
		cprev = &ckey;
		if (!bpf_map_lookup_elem(cfd, &ckey, conn) && q->head != q->tail)
			count_active(active, &q->first);
	}
	free(conn);
	/* the ones pipelined behind it */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &val))
			count_active(active, &val);
	}
	return 0;
}
