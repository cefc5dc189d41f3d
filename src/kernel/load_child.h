/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Running a step in a short-lived child process and taking back the fds it opened. */
#ifndef OA_LOAD_CHILD_H
#define OA_LOAD_CHILD_H

#include <stddef.h>

/* At most this many fds come back: the kernel's limit for one SCM_RIGHTS message. */
#define LOAD_CHILD_MAX_FDS 253

/*
 * Runs in the child: does its work, puts the fds to hand over in fds (at
 * most max) and returns how many, or -errno after saying what failed.
 */
typedef int (*load_child_fn)(void *ctx, int *fds, size_t max);

/*
 * Forks, runs fn(ctx, fds, max) in the child, and receives the fds it
 * returned into fds (new fds of this process, close-on-exec) and their
 * number into *nr; the child exits at once. What fn allocated, libbpf's
 * copies of the kernel BTF for one, never counts in this process's RSS:
 * it lives and dies with the child. Returns 0, what fn returned when it
 * failed (fn said why), or -errno after saying what failed (-ECHILD: the
 * child died without an answer). max is at most LOAD_CHILD_MAX_FDS. Call
 * it before any thread starts: the child has only the calling thread.
 */
int load_child_run(load_child_fn fn, void *ctx, int *fds, size_t max, size_t *nr);

#endif /* OA_LOAD_CHILD_H */
