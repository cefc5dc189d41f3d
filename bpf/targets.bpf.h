/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Whether a process is traced: a key of the targets map, which the loader
 * fills at start and the programs of targets.bpf.c keep current.
 */
#ifndef TARGETS_BPF_H
#define TARGETS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.bpf.h"

static __always_inline bool is_target(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

#endif /* TARGETS_BPF_H */
