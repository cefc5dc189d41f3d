/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reads the kernel maps into a snapshot: per-CPU values summed, paths turned into routes. */
#ifndef OA_AGGREGATE_H
#define OA_AGGREGATE_H

#include "bpf_loader.h"
#include "series.h"

/* Fills snap from the agent's maps; snap owns its arrays until snapshot_free. */
int aggregate_snapshot(struct bpf_agent *a, struct oa_snapshot *snap);

/*
 * Sorts series by (method, status, version, route) and merges equal ones in
 * place, summing counts and buckets. Returns the new number of series.
 */
size_t series_merge(struct oa_series *series, size_t n);

void snapshot_free(struct oa_snapshot *snap);

#endif /* OA_AGGREGATE_H */
