/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What user space keeps of the series that left the kernel maps (retire.h
 * decides which): each in the form it was exported in, so that exported
 * totals carry on where the kernel's entry stopped and never go back.
 */
#ifndef OA_RETIRED_H
#define OA_RETIRED_H

#include <stddef.h>
#include "metrics/series.h"

struct retired {
	struct oa_series *series; /* merged and in export order (series_cmp) up to nr_sorted */
	size_t nr_series, nr_sorted, cap_series;
	struct oa_client_series *clients; /* merged (clients_merge) up to nr_clients_sorted */
	size_t nr_clients, nr_clients_sorted, cap_clients;
	size_t max_series;  /* label sets kept with their own labels; past it, overflow series */
	size_t max_clients; /* client series kept by server; past it, server _OTHER */
	__u64 ignored;	    /* requests on ignored routes */
	__u64 overflowed;   /* requests kept in overflow series */
};

/* An empty store holding at most max_series label sets and max_clients client series. */
void retired_init(struct retired *r, size_t max_series, size_t max_clients);
void retired_free(struct retired *r);

/*
 * Keeps stats under the exported labels of s (s->overflow: the overflow
 * series of its status and error). Retired series are only visible to
 * retired_copy_* after retired_settle. 0 or -ENOMEM.
 */
int retired_add_series(struct retired *r, const struct oa_series *s,
		       const struct http_stats *stats);

/* Keeps a client series (its labels and stats as exported). 0 or -ENOMEM. */
int retired_add_client(struct retired *r, const struct oa_client_series *c);

/*
 * Merges what was added since the last call: label sets past max_series
 * become overflow series (counted in overflowed), client series past
 * max_clients are kept under the server "_OTHER", port 0.
 */
void retired_settle(struct retired *r);

#endif /* OA_RETIRED_H */
