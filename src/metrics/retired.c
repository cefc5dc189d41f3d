// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the store of retired series (retired.h): a sorted, merged array of
 * exported series and one of client series. An addition finds its label
 * set by binary search in the sorted part, or is appended; retired_settle
 * bounds what was appended and sorts it in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "metrics/clients.h"
#include "metrics/retired.h"

void retired_init(struct retired *r, size_t max_series, size_t max_clients)
{
	memset(r, 0, sizeof(*r));
	r->max_series = max_series;
	r->max_clients = max_clients;
}

void retired_free(struct retired *r)
{
	if (!r)
		return;
	free(r->series);
	free(r->clients);
	retired_init(r, r->max_series, r->max_clients);
}

/* The labels of s as they are compared: overflow series keep status and error only. */
static void exported_labels(struct oa_series *dst, const struct oa_series *s)
{
	memset(dst, 0, sizeof(*dst));
	dst->status = s->status;
	dst->error = s->error;
	if (s->overflow) {
		series_to_overflow(dst);
		return;
	}
	dst->method = s->method;
	dst->version = s->version;
	memcpy(dst->route, s->route, strnlen(s->route, OA_MAX_ROUTE - 1));
}

static struct oa_series *find_sorted(const struct retired *r, const struct oa_series *s)
{
	size_t lo = 0, hi = r->nr_sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = series_cmp(s, &r->series[mid]);

		if (!c)
			return &r->series[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int retired_add_series(struct retired *r, const struct oa_series *s, const struct http_stats *stats)
{
	struct oa_series *dst = find_sorted(r, s), *grown;

	if (s->overflow)
		r->overflowed += stats->count;
	if (dst) {
		http_stats_add(&dst->stats, stats);
		return 0;
	}
	grown = array_grow(r->series, &r->cap_series, r->nr_series, sizeof(*r->series), 64);
	if (!grown)
		return -ENOMEM;
	r->series = grown;
	dst = &r->series[r->nr_series++];
	exported_labels(dst, s);
	dst->stats = *stats;
	return 0;
}

int retired_add_client(struct retired *r, const struct oa_client_series *c)
{
	struct oa_client_series *grown;

	grown = array_grow(r->clients, &r->cap_clients, r->nr_clients, sizeof(*r->clients), 16);
	if (!grown)
		return -ENOMEM;
	r->clients = grown;
	r->clients[r->nr_clients++] = *c;
	return 0;
}

/* Label sets added since the last settle beyond max_series become overflow series. */
static void bound_series(struct retired *r)
{
	size_t room = r->max_series > r->nr_sorted ? r->max_series - r->nr_sorted : 0;

	for (size_t i = r->nr_sorted; i < r->nr_series; i++) {
		struct oa_series *s = &r->series[i];

		if (s->overflow)
			continue;
		if (room) {
			room--;
			continue;
		}
		series_to_overflow(s);
		r->overflowed += s->stats.count;
	}
}

void retired_settle(struct retired *r)
{
	if (r->nr_series > r->nr_sorted) {
		bound_series(r);
		r->nr_series = series_merge(r->series, r->nr_series);
		r->nr_sorted = r->nr_series;
	}
	if (r->nr_clients > r->nr_clients_sorted) {
		r->nr_clients = clients_merge(r->clients, r->nr_clients);
		/* past the bound, the servers last in order share one series per outcome */
		for (size_t i = r->max_clients; i < r->nr_clients; i++) {
			strcpy(r->clients[i].server_address, "_OTHER");
			r->clients[i].server_port = 0;
		}
		if (r->nr_clients > r->max_clients)
			r->nr_clients = clients_merge(r->clients, r->nr_clients);
		r->nr_clients_sorted = r->nr_clients;
	}
}
