/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Reading every entry of a kernel hash map from user space. */
#ifndef OA_MAP_WALK_H
#define OA_MAP_WALK_H

#include <stddef.h>
#include <linux/types.h>

/* One entry; non-zero ends the walk with that value. key NULL: start over (see map_walk). */
typedef int (*map_entry_fn)(const void *key, const void *value, void *arg);

/*
 * Calls fn for each entry of the hash map at fd. value_size is what one
 * lookup returns (times the possible CPUs for a per-CPU map). The map is
 * read in batches, one syscall per many entries; should a batch fail (a
 * kernel without batch operations on the map type), fn(NULL, NULL, arg)
 * tells it to forget what it was given and the walk starts over key by
 * key. Returns 0, a negative errno, or what fn returned.
 */
int map_walk(int fd, size_t key_size, size_t value_size, map_entry_fn fn, void *arg);

/*
 * Counters first .. first + n - 1 of the per-CPU array at fd, each summed
 * over the possible CPUs into out[]. 0 or -errno.
 */
int percpu_counters_read(int fd, __u32 first, __u32 n, __u64 *out);

#endif /* OA_MAP_WALK_H */
