// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which processes are traced: the programs that keep the targets map
 * (filled by the loader with what matched at start) current in the kernel
 * as processes appear and go:
 *
 *   sched_process_fork   a child of a target is a target (workers forked later)
 *   inet_sock_set_state  a process that starts listening on a --port
 *   sys_exit_accept{,4}  a process that accepts a connection on a --port
 *   sched_process_exec   a process that execs an --exe or gets a --comm name
 *   task_rename          a process renamed to a --comm (prctl(PR_SET_NAME))
 *
 * The selector programs start with a check of a rodata count the loader
 * sets (maps.bpf.h), and the loader does not even load the ones no option
 * needs. A target whose last thread exits is dropped by http.bpf.c's
 * sched_process_exit program, which ends its connections too.
 */
#include "vmlinux.h"
#include <asm-generic/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "otel_agent.h"
#include "maps.bpf.h"
#include "counters.bpf.h"
#include "sock.bpf.h"
#include "targets.bpf.h"
#include "variant.bpf.h"

#define OA_TCP_LISTEN 10

static __always_inline void add_target(__u32 tgid)
{
	__u8 one = 1;
	long err = bpf_map_update_elem(&targets, &tgid, &one, BPF_NOEXIST);

	if (!err) {
		target_bit_set(tgid, true);
		count_event(OA_EV_TARGETS_ADDED);
	} else if (err != -EEXIST)
		count_map_error(OA_ERR_TARGETS);
}

/* A process a selector matched; never the agent itself (it may serve a --port). */
static __always_inline void add_selected(__u32 tgid)
{
	if (tgid != agent_tgid)
		add_target(tgid);
}

/* Children of a target (workers forked later) are targets too. */
SEC("tp_btf/sched_process_fork")
int OA_BPF_PROG(OA_NAME(handle_sched_process_fork), struct task_struct *parent,
		struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);

	if (ptgid == ctgid || !is_target(ptgid))
		return 0;
	add_target(ctgid);
	return 0;
}

/* listen() on a --port, in the context of the process calling it. */
SEC("tracepoint/sock/inet_sock_set_state")
int OA_NAME(handle_inet_sock_set_state)(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u16 port;

	if (!nr_ports || ctx->newstate != OA_TCP_LISTEN || ctx->protocol != OA_IPPROTO_TCP)
		return 0;
	port = ctx->sport; /* host order; set by bind() before listen() */
	if (bpf_map_lookup_elem(&ports, &port))
		add_selected(bpf_get_current_pid_tgid() >> 32);
	return 0;
}

/* accept() of a connection on a --port, by any process (pre-fork workers, passed sockets). */
static __always_inline void on_accepted(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u16 port;

	if (!nr_ports || fd < 0 || is_target(tgid))
		return;
	port = fd_tcp_local_port((int)fd);
	if (port && bpf_map_lookup_elem(&ports, &port))
		add_selected(tgid);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int OA_NAME(handle_sys_exit_accept_port)(struct trace_event_raw_sys_exit *ctx)
{
	on_accepted(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int OA_NAME(handle_sys_exit_accept4_port)(struct trace_event_raw_sys_exit *ctx)
{
	on_accepted(ctx->ret);
	return 0;
}

static __always_inline bool comm_selected(const char *comm)
{
	struct comm_key key = {};

	if (bpf_probe_read_kernel_str(key.comm, sizeof(key.comm), comm) <= 0)
		return false;
	return bpf_map_lookup_elem(&comms, &key) != NULL;
}

/* A path longer than an exe_key holds is never selected (the loader refuses such --exe). */
static __always_inline bool exe_selected(struct exe_key *key, const char *path)
{
	long n;

	if (!path)
		return false;
	__builtin_memset(key, 0, sizeof(*key));
	n = bpf_probe_read_kernel_str(key->path, sizeof(key->path), path);
	if (n <= 0 || n >= (long)sizeof(key->path))
		return false;
	return bpf_map_lookup_elem(&exes, key) != NULL;
}

/*
 * After exec: the new comm (basename of the file, cut to 15 characters) and
 * the path given to execve (bprm->filename) or, for a #! script, the
 * interpreter it names (bprm->interp), against --comm and --exe.
 */
SEC("tp_btf/sched_process_exec")
int OA_BPF_PROG(OA_NAME(handle_sched_process_exec), struct task_struct *task, pid_t old_pid,
		struct linux_binprm *bprm)
{
	__u32 tgid, zero = 0;
	struct exe_key *key;
	const char *filename, *interp;

	if (!nr_comms && !nr_exes)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (is_target(tgid))
		return 0;
	if (nr_comms && comm_selected(task->comm)) {
		add_selected(tgid);
		return 0;
	}
	if (!nr_exes)
		return 0;
	key = bpf_map_lookup_elem(&exe_scratch, &zero);
	if (!key)
		return 0;
	filename = BPF_CORE_READ(bprm, filename);
	interp = BPF_CORE_READ(bprm, interp);
	if (exe_selected(key, filename) || (interp != filename && exe_selected(key, interp)))
		add_selected(tgid);
	return 0;
}

/*
 * prctl(PR_SET_NAME) or a write to /proc/PID/comm (Node's process.title):
 * fires before the name changes, so the new name is the argument. Only a
 * rename of the thread-group leader renames the process.
 */
SEC("tp_btf/task_rename")
int OA_BPF_PROG(OA_NAME(handle_task_rename), struct task_struct *task, const char *comm)
{
	__u32 tgid;

	if (!nr_comms)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) != tgid || is_target(tgid))
		return 0;
	if (comm_selected(comm))
		add_selected(tgid);
	return 0;
}
