/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which kernel series leave the kernel's series map, so that the map holds
 * what is still being counted: every series of a process that is gone
 * (nothing can add to it any more), and, once idle for RETIRE_IDLE_NS,
 * series whose requests user space exports under other labels anyway
 * (folded into overflow, on an ignored route, or a path a route rule
 * collapses), series in the small spill map, and any idle series while the
 * series map is three quarters full.
 * Their values go to the retired store (retired.h) in their exported form.
 */
#ifndef OA_RETIRE_H
#define OA_RETIRE_H

#include <stdbool.h>
#include <stddef.h>
#include "metrics/hash_table.h"
#include "metrics/series.h"

/* A series of a live process leaves only after this long without a request. */
#define RETIRE_IDLE_NS (5ULL * 1000000000ULL)

/* When each live series' count last changed, across passes. */
struct retire_watch {
	struct hash_table seen; /* struct watched */
	unsigned long pass;
};

void retire_watch_free(struct retire_watch *w);

/* Whether process tgid is still a target (arg: the caller's). */
typedef bool (*target_alive_fn)(__u32 tgid, void *arg);

/*
 * Sets in[i].retire for the series of in[0..n) (exported labels decided by
 * aggregate_series) that leave the kernel now, and in[i].gone for those
 * whose process is no longer a target, at now_ns (monotonic); the
 * series map holds at most map_max entries. Returns how many, or -ENOMEM.
 */
int retire_choose(struct retire_watch *w, struct kernel_series *in, size_t n, size_t map_max,
		  __u64 now_ns, target_alive_fn alive, void *arg);

#endif /* OA_RETIRE_H */
