// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * User space's side of target_bits (bpf/maps.bpf.h): the map's size from
 * pid_max, whether this kernel can keep it (BPF atomic or/and), and the
 * bit of each target the loader adds, through a shared mapping so that its
 * atomic updates and the kernel's land on the same words.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "kernel/target_bits.h"
#include "otel_agent.h"

#define PID_MAX_PATH "/proc/sys/kernel/pid_max"

__u32 target_bits_words(const char *pid_max_path)
{
	unsigned long pid_max = 0;
	FILE *f = fopen(pid_max_path ? pid_max_path : PID_MAX_PATH, "r");

	if (f) {
		if (fscanf(f, "%lu", &pid_max) != 1)
			pid_max = 0;
		fclose(f);
	}
	/* unreadable: the largest pid_max, so that no tgid falls past the end */
	if (!pid_max || pid_max > 64UL * OA_TARGET_BITS_WORDS)
		return OA_TARGET_BITS_WORDS;
	return (__u32)((pid_max + 63) / 64);
}

bool target_bits_supported(void)
{
	/* r1 = 0; *(u64 *)(r10 - 8) = r1; r1 = 1; lock *(u64 *)(r10 - 8) |= r1; r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0 },
		{ .code = BPF_STX | BPF_MEM | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_1,
		  .off = -8,
		  .imm = BPF_OR },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "oa_atomic_or", "Dual BSD/GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int target_bits_map(struct target_bits *tb, int map_fd, __u32 words)
{
	size_t len = (size_t)words * sizeof(__u64);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	tb->words = p;
	tb->nr_words = words;
	tb->len = len;
	return 0;
}

void target_bits_unmap(struct target_bits *tb)
{
	if (tb->words)
		munmap((void *)tb->words, tb->len);
	memset(tb, 0, sizeof(*tb));
}

void target_bits_set(struct target_bits *tb, __u32 tgid, bool on)
{
	__u64 bit = 1ULL << (tgid % 64);

	if (!tb->words || tgid / 64 >= tb->nr_words)
		return;
	if (on)
		__atomic_fetch_or(&tb->words[tgid / 64], bit, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&tb->words[tgid / 64], ~bit, __ATOMIC_SEQ_CST);
}
