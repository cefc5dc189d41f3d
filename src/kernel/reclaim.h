/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Stale kernel state of processes that are gone: found and deleted from user space. */
#ifndef OA_RECLAIM_H
#define OA_RECLAIM_H

#include "kernel/loader.h"

/*
 * Deletes the entries of the per-connection maps (conns, reqs: keys that
 * start with the tgid) whose process no longer exists. A map the BPF
 * object does not have is skipped. Returns how many entries were deleted,
 * or -errno.
 */
int reclaim_stale(struct loader *a);

#endif /* OA_RECLAIM_H */
