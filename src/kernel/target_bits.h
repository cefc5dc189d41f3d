/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* target_bits (bpf/maps.bpf.h) from user space: size, support, and the loader's bits. */
#ifndef OA_KERNEL_TARGET_BITS_H
#define OA_KERNEL_TARGET_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct target_bits {
	volatile __u64 *words; /* the map's values, shared with the kernel */
	__u32 nr_words;
	size_t len; /* of the mapping */
};

/*
 * Words the map needs for every tgid below pid_max, read from
 * pid_max_path (NULL: /proc/sys/kernel/pid_max); OA_TARGET_BITS_WORDS
 * when it cannot be read or is larger.
 */
__u32 target_bits_words(const char *pid_max_path);

/* Whether the kernel accepts BPF atomic or/and (5.12+), which the kernel's updates use. */
bool target_bits_supported(void);

/* Maps the loaded map (BPF_F_MMAPABLE) of words entries; 0 or -errno. */
int target_bits_map(struct target_bits *tb, int map_fd, __u32 words);

void target_bits_unmap(struct target_bits *tb);

/* Sets or clears tgid's bit atomically; nothing when unmapped or past the end. */
void target_bits_set(struct target_bits *tb, __u32 tgid, bool on);

#endif /* OA_KERNEL_TARGET_BITS_H */
