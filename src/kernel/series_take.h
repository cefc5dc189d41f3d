/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Taking series out of the kernel's per-CPU stats maps (series,
 * client_series), and the per-target series counts the kernel holds its
 * cap with (series_made, series_freed; see bpf/conn.bpf.h).
 */
#ifndef OA_KERNEL_SERIES_TAKE_H
#define OA_KERNEL_SERIES_TAKE_H

#include <stdbool.h>
#include <linux/types.h>
#include "otel_agent.h"

struct loader;

/*
 * Deletes key from the per-CPU stats map at fd and sums the values it held
 * last into *stats. 0, -ENOENT when it is not there, or -errno.
 */
int series_take(int fd, const void *key, int nr_cpus, struct http_stats *stats);

/* Adds n to the series user space took away from tgid (what the kernel's cap counts). */
int series_count_freed(struct loader *a, __u32 tgid, __u64 n);

/*
 * Forgets the series counts of the processes alive(tgid, arg) says are
 * gone. 0 or -errno.
 */
int series_counts_prune(struct loader *a, bool (*alive)(__u32 tgid, void *arg), void *arg);

#endif /* OA_KERNEL_SERIES_TAKE_H */
