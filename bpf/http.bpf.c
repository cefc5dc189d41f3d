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

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

/*
 * Arguments of a read/write-family syscall, read at its exit from the
 * user registers the kernel saved at entry (the syscall does not change
 * them), so no enter program or map is needed to carry them over.
 */
struct io_args {
	__u64 buf;   /* see enum io_kind; the exit program knows which */
	__u64 count; /* iovec or mmsghdr entries */
	__s32 fd;
	__u32 _pad;
};

static __always_inline void syscall_io_args(struct io_args *a)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	/* a BTF pointer: plain loads, no probe-read helper calls */
	a->fd = (__s32)PT_REGS_PARM1_SYSCALL(regs);
	a->buf = PT_REGS_PARM2_SYSCALL(regs);
	a->count = PT_REGS_PARM3_SYSCALL(regs);
}

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

static __always_inline void on_io_exit(long ret, enum io_kind kind, bool is_read)
{
	__u64 id;
	struct io_args a;

	/* nothing moved (EAGAIN above all, which event loops read until): nothing to do */
	if (ret <= 0 && ret != -ECONNRESET)
		return;
	id = bpf_get_current_pid_tgid();
	if (!is_target(id >> 32))
		return;
	syscall_io_args(&a);
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
	struct scratch *s;

	if (!is_target(ck.tgid))
		return;
	c = bpf_map_lookup_elem(&conns, &ck);
	if (!c)
		return;
	s = get_scratch();
	if (s && (c->kind == CONN_SERVER || c->kind == CONN_CLIENT)) {
		record_answer(s, c, ck.tgid, NO_SIZE);
		fail_waiting(s, c, ck.tgid, fd);
	}
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

/* One program per syscall exit tracepoint; the work is in on_io_exit. */
SEC("tracepoint/syscalls/sys_exit_read")
int handle_sys_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_PLAIN, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int handle_sys_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_PLAIN, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_readv")
int handle_sys_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_IOVEC, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int handle_sys_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_MSGHDR, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int handle_sys_exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_MMSGHDR, true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int handle_sys_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_PLAIN, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int handle_sys_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_PLAIN, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_writev")
int handle_sys_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_IOVEC, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int handle_sys_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_MSGHDR, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int handle_sys_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_MMSGHDR, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int handle_sys_exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
{
	on_io_exit(ctx->ret, IO_SENDFILE, false);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	new_conn((__s32)ctx->ret, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	new_conn((__s32)ctx->ret, 0);
	return 0;
}

/* Before the connection exists, so the first data either way is seen. */
SEC("tracepoint/syscalls/sys_enter_connect")
int handle_sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	new_conn((__s32)ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int handle_sys_enter_close(struct trace_event_raw_sys_enter *ctx)
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
int handle_sys_enter_shutdown(struct trace_event_raw_sys_enter *ctx)
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
