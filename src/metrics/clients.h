/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Outgoing requests of the targets: the kernel's client series, and waiting requests. */
#ifndef OA_CLIENTS_H
#define OA_CLIENTS_H

#include "kernel/loader.h"
#include "metrics/retire.h"
#include "metrics/retired.h"
#include "metrics/series.h"

/*
 * Reads the client series (summed over CPUs and targets, by method,
 * status, version, error and server) into *out (caller frees), with those
 * kept in r; then moves the series of targets alive() says are gone from
 * the kernel map into r. 0 or -errno.
 */
int clients_read(struct loader *a, struct retired *r, target_alive_fn alive, void *arg,
		 struct oa_client_series **out, size_t *nr);

/* Sorts and merges equal client series in place; returns the new number. */
size_t clients_merge(struct oa_client_series *c, size_t n);

/* Requests the targets have read and not answered yet, by method. */
int active_requests_read(struct loader *a, __u64 active[OA_METHOD_COUNT]);

#endif /* OA_CLIENTS_H */
