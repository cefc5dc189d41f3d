// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Empty programs for bench/syscall_cost.sh, filtered to one pid: the
 * per-syscall tracepoints otel-agent attaches to (as bench/floor.bt), and
 * the alternative it was measured against, one program on the raw
 * sys_enter and sys_exit tracepoints (raw_tp, 4.17+, and tp_btf, 5.5+)
 * that dispatches on the syscall number. The loader picks one set.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 pid = 0;
__u64 hits = 0;

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == pid;
}

#define EMPTY(name)                                     \
	SEC("tp/syscalls/" #name)                       \
	int name(void *ctx)                             \
	{                                               \
		if (mine())                             \
			__sync_fetch_and_add(&hits, 1); \
		return 0;                               \
	}

EMPTY(sys_exit_accept)
EMPTY(sys_exit_accept4)
EMPTY(sys_exit_read)
EMPTY(sys_exit_recvfrom)
EMPTY(sys_exit_readv)
EMPTY(sys_exit_recvmsg)
EMPTY(sys_exit_recvmmsg)
EMPTY(sys_exit_write)
EMPTY(sys_exit_sendto)
EMPTY(sys_exit_writev)
EMPTY(sys_exit_sendmsg)
EMPTY(sys_exit_sendmmsg)
EMPTY(sys_exit_sendfile64)
EMPTY(sys_enter_connect)
EMPTY(sys_enter_close)
EMPTY(sys_enter_shutdown)

/* x86-64 numbers of the syscalls above */
static __always_inline int traced_exit(long nr)
{
	switch (nr) {
	case 43:
	case 288:
	case 0:
	case 45:
	case 19:
	case 47:
	case 299:
	case 1:
	case 44:
	case 20:
	case 46:
	case 307:
	case 40:
		return 1;
	}
	return 0;
}

static __always_inline int traced_enter(long nr)
{
	return nr == 42 || nr == 3 || nr == 48;
}

SEC("raw_tp/sys_exit")
int raw_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (mine() && traced_exit(BPF_CORE_READ(regs, orig_ax)))
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine() && traced_enter(ctx->args[1]))
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tp_btf/sys_exit")
int btf_exit(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];

	if (mine() && traced_exit(regs->orig_ax))
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int btf_enter(__u64 *ctx)
{
	if (mine() && traced_enter(ctx[1]))
		__sync_fetch_and_add(&hits, 1);
	return 0;
}
