/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's own counters: what the programs saw (events) and which map
 * updates failed (map_errors). Per-CPU arrays that user space sums and
 * exports as otel_agent_* series, so nothing is lost silently.
 */
#ifndef COUNTERS_BPF_H
#define COUNTERS_BPF_H

#include "maps.bpf.h"

static __always_inline void count_event(__u32 ev)
{
	__u64 *v = bpf_map_lookup_elem(&events, &ev);

	if (v)
		*v += 1;
}

static __always_inline void count_map_error(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&map_errors, &kind);

	if (v)
		*v += 1;
}

#endif /* COUNTERS_BPF_H */
