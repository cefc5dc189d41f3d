/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whether a process is traced: a key of the targets map, which the loader
 * fills at start and the programs of targets.bpf.c keep current, as its
 * bit in target_bits says.
 */
#ifndef TARGETS_BPF_H
#define TARGETS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

/* The target_bits word holding tgid's bit; NULL when none is kept or tgid is past its end. */
static __always_inline __u64 *target_word(__u32 tgid)
{
	__u32 word = tgid / 64;

	return use_target_bits ? bpf_map_lookup_elem(&target_bits, &word) : NULL;
}

static __always_inline bool is_target(__u32 tgid)
{
	__u64 *bits = target_word(tgid);

	if (bits)
		return (*bits >> (tgid % 64)) & 1;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

/*
 * tgid was just inserted into targets, or deleted from it, by the caller.
 * The compat build keeps no bits: atomic or and and came in 5.12, and 5.10
 * refuses a program holding them even where they cannot run.
 */
static __always_inline void target_bit_set(__u32 tgid, bool on)
{
#ifndef OA_COMPAT
	__u64 bit = 1ULL << (tgid % 64), *bits = target_word(tgid);

	if (!bits)
		return;
	if (on)
		__sync_fetch_and_or(bits, bit);
	else
		__sync_fetch_and_and(bits, ~bit);
#endif
}

#endif /* TARGETS_BPF_H */
