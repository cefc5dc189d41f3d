/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Creating the hash map entry a lookup missed, the second half of every
 * lookup-or-create: the caller looks up first and builds the initial value
 * only when the key is missing, since building it may cost (an fd-table
 * walk for a connection).
 */
#ifndef MAP_INSERT_BPF_H
#define MAP_INSERT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "counters.bpf.h"

/*
 * Inserts init under key, which a lookup just missed, and returns the entry
 * now there: another CPU may have inserted it first (EEXIST), then that
 * one. NULL when there is none (the map is full), counted as map error
 * err_kind: what the caller would have recorded there is lost. For a
 * per-CPU map the entry is this CPU's.
 */
static __always_inline void *insert_and_lookup(void *map, const void *key, const void *init,
					       __u32 err_kind)
{
	void *v;

	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		count_map_error(err_kind);
	return v;
}

#endif /* MAP_INSERT_BPF_H */
