/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Noticing the targets the kernel added or dropped since the last look, and saying so. */
#ifndef OA_TARGETS_WATCH_H
#define OA_TARGETS_WATCH_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

struct loader;

/* The targets map as sorted lists (OA_MAX_TARGETS each): the last look and this one. */
struct target_watch {
	struct loader *bpf;
	pid_t *known;
	size_t nr_known;
	pid_t *now;
	pid_t *fresh;
	__u64 kernel_added; /* the kernel's targets_added count at the last look */
	size_t user_added;  /* targets user space added since then (children adopted) */
	long long unseen;   /* added by the kernel and not listed yet (say_unseen) */
};

/* Takes a first, silent look at the targets; 0 or -ENOMEM. */
int target_watch_init(struct target_watch *w, struct loader *bpf);
/*
 * Logs the processes added since the last look (forked by a target, or
 * matched in the kernel) and adds the children a matched one already had;
 * with -v, the ones that left.
 */
void target_watch_tick(struct target_watch *w);
/* Accepts a zeroed or freed watch. */
void target_watch_free(struct target_watch *w);

#endif /* OA_TARGETS_WATCH_H */
