/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Lifecycle of the BPF side: checks, open, configure, load, fill targets, attach, destroy. */
#ifndef OA_KERNEL_LOADER_H
#define OA_KERNEL_LOADER_H

#include <stddef.h>
#include <sys/types.h>
#include "cli.h"
#include "otel_agent.h"
#include "kernel/target_bits.h"

struct http_bpf;

struct loader {
	struct http_bpf *skel;
	struct target_bits bits;      /* unmapped when the kernel keeps no target_bits */
	double bounds[OA_MAX_BOUNDS]; /* seconds, ascending: what the kernel buckets by */
	unsigned int nr_bounds;
	double size_bounds[OA_MAX_SIZE_BOUNDS]; /* bytes, ascending: body sizes */
	unsigned int nr_size_bounds;
	int *links; /* the attached programs' links: closing one detaches its program */
	size_t nr_links;
	bool compat; /* the compat build's programs are loaded (bpf/variant.bpf.h) */
};

/*
 * What must hold before anything is loaded: BTF, privileges, the kernel
 * features of at least the compat build, tracefs (mounted here if it is
 * not). Sets *compat when the compat build's programs are to be loaded
 * (kernel/features.h, OTEL_AGENT_PROGRAMS). Prints one actionable line and
 * returns -errno on failure.
 */
int loader_preflight(bool *compat);

/*
 * Loads and attaches, the compat build's programs or the current build's,
 * with the given bucket bounds (seconds, ascending) and selectors: the --pid processes are targets from the start, the --port,
 * --comm and --exe values are what the kernel matches new processes against.
 * Processes already running that a selector matches are added afterwards
 * with loader_add_target (discover.c finds them).
 */
int loader_start(struct loader *a, const struct map_limits *limits, const double *bounds,
		 unsigned int nr_bounds, const struct selectors *sel, bool compat);

/*
 * The values a lookup of series or client_series returns: one per CPU, or
 * one shared by all with the compat build (-errno when unknown).
 */
int loader_series_cpus(const struct loader *a);

/* 1 when pid was added to the targets map, 0 when it was there already, -errno on failure. */
int loader_add_target(struct loader *a, pid_t pid);

/* Copies at most max pids of the targets map into out; returns how many. */
int loader_list_targets(struct loader *a, pid_t *out, size_t max);

/* What the programs counted for one enum oa_event, summed over CPUs; 0 or -errno. */
int loader_event_count(struct loader *a, __u32 ev, __u64 *count);

/* Accepts NULL and a never-started agent. */
/*
 * One lookup on an open map, the kind serving does (privilege.c tries it
 * without CAP_BPF): 0, or -EPERM when this kernel wants CAP_BPF for it.
 */
int loader_probe_maps(void *loader);

void loader_stop(struct loader *a);

#endif /* OA_KERNEL_LOADER_H */
