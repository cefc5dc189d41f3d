// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The one update of a series value (conn.bpf.h declares it): a global
 * function, verified once on its own rather than inlined at every place a
 * request is recorded (inlined in the compat build: variant.bpf.h). A per-CPU value is this CPU's alone and takes plain
 * adds; a series_spill value is shared by every CPU and takes atomic ones.
 */
#include "conn.bpf.h"

#define STAT_ADD(shared, p, n)                          \
	do {                                            \
		if (shared)                             \
			__sync_fetch_and_add((p), (n)); \
		else                                    \
			*(p) += (n);                    \
	} while (0)

static __always_inline void add_size(struct size_hist *h, __u64 size, int shared)
{
	__u32 b = size_bucket_of(size);

	STAT_ADD(shared, &h->count, 1);
	STAT_ADD(shared, &h->sum, size);
	if (b < OA_NR_SIZE_BUCKETS)
		STAT_ADD(shared, &h->buckets[b], 1);
}

OA_POINTER_ARGS_FUNC int series_add(struct http_stats *v, __u64 dur_ns, __u64 req_size,
				    __u64 resp_size, int shared)
{
	__u32 b = bucket_of(dur_ns);

	if (!v)
		return 0;
	STAT_ADD(shared, &v->count, 1);
	STAT_ADD(shared, &v->sum_ns, dur_ns);
	if (b < OA_NR_BUCKETS)
		STAT_ADD(shared, &v->buckets[b], 1);
	if (!count_body_sizes)
		return 0;
	if (req_size != NO_SIZE)
		add_size(&v->req_body, req_size, shared);
	if (resp_size != NO_SIZE)
		add_size(&v->resp_body, resp_size, shared);
	return 0;
}
