// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel side of otel-agent: syscall tracepoints of the target processes.
 * Exit programs hand the bytes a read or write moved on a TCP socket to
 * the HTTP framing (frame.bpf.h), which queues requests and records
 * answered ones in per-CPU series (conn.bpf.h). accept, connect, close and
 * shutdown start and end connections; what a connection left unanswered is
 * recorded as an error. Nothing is sent to user space per request: the
 * loader reads the maps (maps.bpf.h) when it is scraped. Which processes
 * are targets is kept by targets.bpf.c, linked into the same object.
 */
#include "vmlinux.h"
#include <asm-generic/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "otel_agent.h"
#include "http_parse.h"
#include "maps.bpf.h"
#include "counters.bpf.h"
#include "map_insert.bpf.h"
#include "sock.bpf.h"
#include "targets.bpf.h"
#include "conn.bpf.h"
#include "frame.bpf.h"
#include "variant.bpf.h"

#ifndef OA_COMPAT /* one license for the linked object */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
#endif

#define OA_SHUT_RD   0
#define OA_SHUT_WR   1
#define OA_SHUT_RDWR 2

/* How a syscall's data is laid out in user memory. */
enum io_kind {
	IO_PLAIN,    /* read, write, recvfrom, sendto: a buffer */
	IO_IOVEC,    /* readv, writev: struct iovec[count] */
	IO_MSGHDR,   /* recvmsg, sendmsg: struct user_msghdr */
	IO_MMSGHDR,  /* recvmmsg, sendmmsg: struct mmsghdr[count] */
	IO_SENDFILE, /* sendfile: no user buffer, only a byte count */
};

#ifdef OA_COMPAT
#if defined(__TARGET_ARCH_x86)
#define OA_THREAD_SIZE 16384 /* x86-64's kernel stack (without KASAN) */
#define OA_USER_CS     0x33  /* a 64-bit user code segment */

/*
 * A syscall already under way when the programs were attached (a thread
 * blocked in read on an idle keep-alive connection) had no enter program
 * to keep its arguments. They are read where the kernel saved the user
 * registers, at the top of the thread's kernel stack (task_pt_regs, which
 * 5.10 has no helper for): THREAD_SIZE above task->stack, less 16 bytes on
 * kernels with FRED (6.9+). A place is taken only when it holds a 64-bit
 * user syscall of this number.
 */
static __always_inline bool stack_io_args(struct io_args *a, long nr)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 top = (__u64)BPF_CORE_READ(task, stack) + OA_THREAD_SIZE;
	struct pt_regs r;

	for (__u32 pad = 0; pad <= 16; pad += 16) {
		if (bpf_probe_read_kernel(&r, sizeof(r), (void *)(top - pad - sizeof(r))))
			continue;
		if (r.orig_ax != (unsigned long)nr || r.cs != OA_USER_CS)
			continue;
		a->fd = (__s32)r.di;
		a->buf = r.si;
		a->count = r.dx;
		return true;
	}
	return false;
}
#else
static __always_inline bool stack_io_args(struct io_args *a, long nr)
{
	return false;
}
#endif

/*
 * The arguments the enter program kept (save_io_args), taken away, else
 * those on the stack; false, counted when data moved, when there are none.
 */
static __always_inline bool syscall_io_args(struct io_args *a, __u64 id, long nr, long ret)
{
	struct io_args *saved = bpf_map_lookup_elem(&syscall_args, &id);

	if (saved) {
		*a = *saved;
		bpf_map_delete_elem(&syscall_args, &id);
		return true;
	}
	if (ret <= 0 && ret != -ECONNRESET)
		return false;
	if (stack_io_args(a, nr))
		return true;
	count_event(OA_EV_ARGS_MISSING);
	return false;
}
#else
/*
 * The arguments, read at the syscall's exit from the user registers the
 * kernel saved at entry (the syscall does not change them), so no enter
 * program or map is needed to carry them over.
 */
static __always_inline bool syscall_io_args(struct io_args *a, __u64 id, long nr, long ret)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	/* a BTF pointer: plain loads, no probe-read helper calls */
	a->fd = (__s32)PT_REGS_PARM1_SYSCALL(regs);
	a->buf = PT_REGS_PARM2_SYSCALL(regs);
	a->count = PT_REGS_PARM3_SYSCALL(regs);
	return true;
}
#endif

/* A connection's first state, of a kind already known. */
static __always_inline void conn_init_as(struct conn_val *c, enum conn_kind kind)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->kind = kind;
}

/* A connection's first state: a TCP socket is followed, anything else is ignored. */
static __always_inline void conn_init(struct conn_val *c, __s32 fd)
{
	conn_init_as(c, fd_is_tcp_socket(fd) ? CONN_UNKNOWN : CONN_IGNORED);
}

/*
 * The connection state of (tgid, fd), created on first data read: a TCP
 * socket gets a fresh state, anything else is remembered as ignored.
 */
static __always_inline struct conn_val *conn_for_read(struct scratch *s, struct conn_key *ck)
{
	struct conn_val *c = bpf_map_lookup_elem(&conns, ck);

	if (c)
		return c;
	conn_init(&s->conn, ck->fd);
	return insert_and_lookup(&conns, ck, &s->conn, OA_ERR_CONNS);
}

/*
 * Hands the bytes a syscall moved to the framing of one direction. kind is a
 * constant in each program, so only its layout's code is there to verify.
 */
static __always_inline void frame_syscall(struct frame_ctx *f, const struct io_args *a,
					  enum io_kind kind, long ret, bool request)
{
	struct frame *fr = &f->s->fr;
	struct user_msghdr msg;

	switch (kind) {
	case IO_PLAIN:
		fr->base = a->buf;
		fr->len = (__u32)ret;
		fr->syscall_start = 1;
		fr->first = 0;
		break;
	case IO_IOVEC:
		fr->iov = a->buf;
		fr->iov_left = a->count;
		fr->bytes_left = ret;
		break;
	case IO_MSGHDR:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
			return;
		fr->iov = (__u64)msg.msg_iov;
		fr->iov_left = msg.msg_iovlen;
		fr->bytes_left = ret;
		break;
	case IO_MMSGHDR:
		/* ret is the number of messages; each says how many bytes it moved */
		fr->mmsg = a->buf;
		fr->msg_left = (__u32)ret;
		break;
	case IO_SENDFILE: /* no user memory: see on_write */
		return;
	}
	frame_run(f, request);
}

static __always_inline void on_read(const struct io_args *a, enum io_kind kind, __u32 tgid,
				    long ret)
{
	struct conn_key ck = { .tgid = tgid, .fd = a->fd };
	struct frame_ctx f = {};
	struct conn_val *c;

	if (ret == -ECONNRESET) {
		c = bpf_map_lookup_elem(&conns, &ck);
		if (c)
			c->reset = 1;
		return;
	}
	if (ret <= 0 || kind == IO_SENDFILE)
		return;
	f.s = get_scratch();
	if (!f.s)
		return;
	c = conn_for_read(f.s, &ck);
	if (!c)
		return;
	f.c = c;
	/* a server reads requests, a client responses; a new connection is classified */
	if (c->kind == CONN_SERVER || (c->kind == CONN_UNKNOWN && (!c->outbound || c->fresh))) {
		frame_begin(&f, tgid, a->fd);
		frame_syscall(&f, a, kind, ret, true);
	} else if (c->kind == CONN_CLIENT) {
		frame_begin(&f, tgid, a->fd);
		frame_syscall(&f, a, kind, ret, false);
	}
}

/* Where the first bytes a syscall moved are, and how many there are in that segment. */
static __always_inline bool first_bytes(const struct io_args *a, enum io_kind kind, long ret,
					__u64 *ptr, __u64 *len)
{
	struct user_msghdr msg;
	struct mmsghdr mm;
	struct iovec iov;
	__u64 iovp = a->buf;

	switch (kind) {
	case IO_PLAIN:
		*ptr = a->buf;
		*len = ret;
		return true;
	case IO_IOVEC:
		break;
	case IO_MSGHDR:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
			return false;
		iovp = (__u64)msg.msg_iov;
		break;
	case IO_MMSGHDR:
		if (bpf_probe_read_user(&mm, sizeof(mm), (void *)a->buf))
			return false;
		iovp = (__u64)mm.msg_hdr.msg_iov;
		ret = mm.msg_len;
		break;
	case IO_SENDFILE:
		return false;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)iovp))
		return false;
	*ptr = (__u64)iov.iov_base;
	*len = iov.iov_len < (__u64)ret ? iov.iov_len : (__u64)ret;
	return true;
}

/*
 * The first bytes of a write the framing does not follow, into s->buf:
 * enough to tell a status line or a request line. Returns how many (0 when
 * they cannot be read).
 */
static __always_inline __u32 unframed_bytes(const struct io_args *a, enum io_kind kind,
					    struct scratch *s, long ret)
{
	__u64 ptr, len;
	__u32 n;

	if (!first_bytes(a, kind, ret, &ptr, &len))
		return 0;
	n = len < HTTP_STATUS_LINE_MIN + 1 ? (__u32)len : HTTP_STATUS_LINE_MIN + 1;
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(31));
	if (n > HTTP_STATUS_LINE_MIN + 1 || bpf_probe_read_user(s->buf, n, (void *)ptr))
		return 0;
	return n;
}

/* A known method and a space start buf[0..n). */
static __always_inline bool starts_request(const char *buf, __u32 n)
{
	__u32 k;

	for (k = 1; k < n && k < 8; k++) {
		if (buf[k] == ' ')
			return http_method_from_token(buf, k) != OA_METHOD_OTHER;
	}
	return false;
}

/*
 * A request written on a TCP connection the agent has no state for (open
 * before it attached): the target is its client. Its state is created, with
 * the peer from the socket, so that this request is followed; NULL when the
 * fd is not a TCP socket or the map is full.
 */
static __always_inline struct conn_val *joined_client(struct scratch *s, struct conn_key *ck)
{
	conn_init(&s->conn, ck->fd);
	if (s->conn.kind != CONN_UNKNOWN)
		return NULL; /* not a TCP socket */
	s->conn.outbound = 1;
	fd_tcp_peer(ck->fd, &s->conn.peer_family, s->conn.peer_addr, &s->conn.peer_port);
	return insert_and_lookup(&conns, ck, &s->conn, OA_ERR_CONNS);
}

static __always_inline void on_write(const struct io_args *a, enum io_kind kind, __u32 tgid,
				     long ret)
{
	struct conn_key ck = { .tgid = tgid, .fd = a->fd };
	struct frame_ctx f = {};
	struct conn_val *c;

	c = bpf_map_lookup_elem(&conns, &ck);
	if (ret == -ECONNRESET) {
		if (c)
			c->reset = 1;
		return;
	}
	/* a file, pipe or switched-protocol connection: nothing to frame or match */
	if (ret <= 0 || (c && (c->kind == CONN_IGNORED || c->kind == CONN_UPGRADED)))
		return;
	if (kind == IO_SENDFILE) {
		/* file bytes can only be body: pass over them */
		struct dir_state *d = c && c->kind == CONN_SERVER   ? &c->resp
				      : c && c->kind == CONN_CLIENT ? &c->req
								    : NULL;

		if (d && d->phase == PH_BODY) {
			__u64 n = (__u64)ret < d->body_left ? (__u64)ret : d->body_left;

			d->body_left -= n;
			if (!d->body_left)
				d->phase = PH_START;
		}
		return;
	}
	f.s = get_scratch();
	if (!f.s)
		return;
	if (!c && !fd_is_tcp_socket(a->fd)) {
		/*
		 * A file or pipe (a log line, say): remembered as ignored, as a
		 * read does, so its next writes stop at the lookup; the close
		 * takes the entry away. No room is no error: it is asked again.
		 */
		conn_init_as(&f.s->conn, CONN_IGNORED);
		bpf_map_update_elem(&conns, &ck, &f.s->conn, BPF_NOEXIST);
		return;
	}
	f.c = c;
	/* a server writes responses, a client requests */
	if (c && c->kind == CONN_SERVER) {
		frame_begin(&f, tgid, a->fd);
		frame_syscall(&f, a, kind, ret, false);
	} else if (c && (c->kind == CONN_CLIENT || (c->kind == CONN_UNKNOWN && c->outbound))) {
		frame_begin(&f, tgid, a->fd);
		frame_syscall(&f, a, kind, ret, true);
	} else if (!c || c->kind == CONN_UNKNOWN || c->kind == CONN_NOT_HTTP) {
		__u32 n = unframed_bytes(a, kind, f.s, ret);
		__u8 version;

		if (!n)
			return;
		if (!c && starts_request(f.s->buf, n) && (f.c = joined_client(f.s, &ck))) {
			frame_begin(&f, tgid, a->fd);
			frame_syscall(&f, a, kind, ret, true);
		} else if (http_parse_status(f.s->buf, n, &version) &&
			   (c || fd_is_tcp_socket(a->fd))) {
			count_event(OA_EV_UNMATCHED_RESPONSES);
		}
	}
}

static __always_inline void on_io_exit(struct trace_event_raw_sys_exit *ctx, enum io_kind kind,
				       bool is_read)
{
	long ret = ctx->ret;
	struct io_args a;
	__u64 id;

#ifndef OA_COMPAT
	/* nothing moved (EAGAIN above all, which event loops read until): nothing to do */
	if (ret <= 0 && ret != -ECONNRESET)
		return;
#endif
	id = bpf_get_current_pid_tgid();
	if (!is_target(id >> 32) || !syscall_io_args(&a, id, ctx->id, ret))
		return;
	/* the compat build's check comes after: the kept arguments are taken away first */
	if (ret <= 0 && ret != -ECONNRESET)
		return;
	if (is_read)
		on_read(&a, kind, id >> 32, ret);
	else
		on_write(&a, kind, id >> 32, ret);
}

/*
 * The connection on fd ends (close) or can no longer answer (shutdown of
 * its write side): requests still waiting are recorded as errors.
 */
static __always_inline void end_conn(__s32 fd, bool forget)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };
	struct conn_val *c;

	if (!is_target(ck.tgid))
		return;
	c = bpf_map_lookup_elem(&conns, &ck);
	if (!c)
		return;
	end_requests(c, ck.tgid, fd);
	if (forget)
		bpf_map_delete_elem(&conns, &ck);
}

/* The server a connect() goes to, from its user-space sockaddr. */
static __always_inline void set_peer(struct conn_val *c, __u64 uaddr)
{
	struct sockaddr_in6 sa;

	__builtin_memset(&sa, 0, sizeof(sa));
	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	c->peer_port = bpf_ntohs(sa.sin6_port);
	if (sa.sin6_family == OA_AF_INET) {
		c->peer_family = 4;
		/* sockaddr_in's address sits where sockaddr_in6's flowinfo is */
		__builtin_memcpy(c->peer_addr, &sa.sin6_flowinfo, 4);
	} else if (sa.sin6_family == OA_AF_INET6) {
		c->peer_family = 6;
		__builtin_memcpy(c->peer_addr, &sa.sin6_addr, 16);
	}
}

/*
 * A connection the target accepts (uaddr 0) or opens to uaddr while traced:
 * its stream is followed from the first byte. State left under the fd
 * number is from a close not seen (the fd was reused): it is ended first.
 */
static __always_inline void new_conn(__s32 fd, __u64 uaddr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };
	struct scratch *s;

	if (fd < 0 || !is_target(ck.tgid))
		return;
	if (bpf_map_lookup_elem(&conns, &ck)) {
		count_event(OA_EV_STALE_RECLAIMED);
		end_conn(fd, true);
	}
	s = get_scratch();
	if (!s)
		return;
	conn_init(&s->conn, fd);
	s->conn.fresh = 1;
	if (uaddr) {
		s->conn.outbound = 1;
		set_peer(&s->conn, uaddr);
	}
	if (bpf_map_update_elem(&conns, &ck, &s->conn, BPF_ANY))
		count_map_error(OA_ERR_CONNS);
}

#ifdef OA_COMPAT
/* A target's syscall arguments, kept for its exit program (syscall_io_args). */
static __always_inline void save_io_args(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args a = {
		.fd = (__s32)ctx->args[0],
		.buf = ctx->args[1],
		.count = ctx->args[2],
	};

	if (is_target(id >> 32))
		bpf_map_update_elem(&syscall_args, &id, &a, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_read")
int OA_NAME(handle_sys_enter_read)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int OA_NAME(handle_sys_enter_recvfrom)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_readv")
int OA_NAME(handle_sys_enter_readv)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int OA_NAME(handle_sys_enter_recvmsg)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int OA_NAME(handle_sys_enter_recvmmsg)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int OA_NAME(handle_sys_enter_write)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int OA_NAME(handle_sys_enter_sendto)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int OA_NAME(handle_sys_enter_writev)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int OA_NAME(handle_sys_enter_sendmsg)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int OA_NAME(handle_sys_enter_sendmmsg)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int OA_NAME(handle_sys_enter_sendfile64)(struct trace_event_raw_sys_enter *ctx)
{
	save_io_args(ctx);
	return 0;
}
#endif

/* One program per syscall exit tracepoint; the work is in on_io_exit. */
SEC("tracepoint/syscalls/sys_exit_read")
int OA_NAME(handle_sys_exit_read)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_PLAIN, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int OA_NAME(handle_sys_exit_recvfrom)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_PLAIN, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_readv")
int OA_NAME(handle_sys_exit_readv)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_IOVEC, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int OA_NAME(handle_sys_exit_recvmsg)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_MSGHDR, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int OA_NAME(handle_sys_exit_recvmmsg)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_MMSGHDR, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int OA_NAME(handle_sys_exit_write)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_PLAIN, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int OA_NAME(handle_sys_exit_sendto)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_PLAIN, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_writev")
int OA_NAME(handle_sys_exit_writev)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_IOVEC, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int OA_NAME(handle_sys_exit_sendmsg)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_MSGHDR, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int OA_NAME(handle_sys_exit_sendmmsg)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_MMSGHDR, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int OA_NAME(handle_sys_exit_sendfile64)(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx, IO_SENDFILE, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int OA_NAME(handle_sys_exit_accept)(struct trace_event_raw_sys_exit *ctx)
{
	new_conn((__s32)ctx->ret, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int OA_NAME(handle_sys_exit_accept4)(struct trace_event_raw_sys_exit *ctx)
{
	new_conn((__s32)ctx->ret, 0);
	return 0;
}

/* Before the connection exists, so the first data either way is seen. */
SEC("tracepoint/syscalls/sys_enter_connect")
int OA_NAME(handle_sys_enter_connect)(struct trace_event_raw_sys_enter *ctx)
{
	new_conn((__s32)ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int OA_NAME(handle_sys_enter_close)(struct trace_event_raw_sys_enter *ctx)
{
	end_conn((__s32)ctx->args[0], true);
	return 0;
}

/*
 * A shutdown ends the requests waiting on a connection only when it ends
 * the direction their responses take: the write side of a server, the read
 * side of a client (a client that half-closes after sending still reads
 * its responses).
 */
SEC("tracepoint/syscalls/sys_enter_shutdown")
int OA_NAME(handle_sys_enter_shutdown)(struct trace_event_raw_sys_enter *ctx)
{
	__u64 how = ctx->args[1];
	struct conn_key ck = { .tgid = bpf_get_current_pid_tgid() >> 32,
			       .fd = (__s32)ctx->args[0] };
	struct conn_val *c;

	if (how != OA_SHUT_RDWR && is_target(ck.tgid)) {
		c = bpf_map_lookup_elem(&conns, &ck);
		if (!c || how != (c->kind == CONN_CLIENT ? OA_SHUT_RD : OA_SHUT_WR))
			return 0;
	}
	end_conn(ck.fd, false);
	return 0;
}

/*
 * A target is dropped when its thread group is gone: the exiting thread
 * found signal->live at zero (do_exit decrements it before this
 * tracepoint). Usually that is the leader (pid == tgid) on exit or kill;
 * checking live rather than the leader keeps a process whose leader
 * exited first (pthread_exit) or whose old leader de_thread() reaped in
 * a multithreaded exec, since that process goes on with the same tgid.
 * Its connections end as a close would end them: its fds close without a
 * close syscall.
 */
#ifdef OA_COMPAT
/*
 * No bpf_for_each_map_elem before 5.13: the fd numbers the process can
 * hold, up to EXIT_FDS, are each looked up (the fd table is still there:
 * exit_files comes after this tracepoint). Entries past it are left to
 * user space's reclaim (kernel/reclaim.c).
 */
#define EXIT_FDS 4096

/* A global function (scalars only): verified once, not once per fd. */
__noinline int end_conn_at_exit_compat(__u32 tgid, __s32 fd)
{
	struct conn_key ck = { .tgid = tgid, .fd = fd };
	struct conn_val *c = bpf_map_lookup_elem(&conns, &ck);

	if (!c)
		return 0;
	end_requests(c, tgid, fd);
	bpf_map_delete_elem(&conns, &ck);
	return 0;
}

static __always_inline void end_process_conns(struct task_struct *task, __u32 tgid)
{
	__u32 max_fds = BPF_CORE_READ(task, files, fdt, max_fds);

	for (__s32 fd = 0; fd < EXIT_FDS; fd++) {
		if ((__u32)fd >= max_fds)
			break;
		end_conn_at_exit_compat(tgid, fd);
	}
}
#else
/* bpf_for_each_map_elem's callback over conns: a connection of the exiting process ends. */
static long end_conn_at_exit(struct bpf_map *map, struct conn_key *key, struct conn_val *c,
			     __u32 *tgid)
{
	if (key->tgid != *tgid)
		return 0;
	end_requests(c, key->tgid, key->fd);
	bpf_map_delete_elem(map, key);
	return 0;
}

static __always_inline void end_process_conns(struct task_struct *task, __u32 tgid)
{
	bpf_for_each_map_elem(&conns, end_conn_at_exit, &tgid, 0);
}
#endif

SEC("tp_btf/sched_process_exit")
int OA_BPF_PROG(OA_NAME(handle_sched_process_exit), struct task_struct *task)
{
	__u32 tgid;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	/* a walk of conns, once per exiting target process: nothing else pays for it */
	if (bpf_map_lookup_elem(&targets, &tgid))
		end_process_conns(task, tgid);
	if (!bpf_map_delete_elem(&targets, &tgid))
		target_bit_set(tgid, false);
	return 0;
}
