// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel side of otel-agent: syscall tracepoints of the target processes
 * recognise HTTP/1.x requests read from and responses written to TCP
 * sockets, and aggregate count, duration sum and histogram buckets per
 * (process, method, status, path) in a per-CPU hash. Nothing is sent to user
 * space per request; the loader reads the maps when scraped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "otel_agent.h"
#include "http_parse.h"
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Histogram bounds in nanoseconds, ascending; set by the loader before load. */
const volatile __u64 bounds_ns[OA_MAX_BOUNDS] = {};
const volatile __u32 nr_bounds = 0;

/* Processes whose syscalls are traced (tgid -> unused). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/* Arguments of a read/write-family syscall between its enter and exit. */
enum io_kind { IO_PLAIN, IO_IOVEC, IO_MSGHDR };

struct io_args {
	__u64 buf; /* user pointer: data, struct iovec[] or struct user_msghdr */
	__s32 fd;
	__u32 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct io_args);
} io_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_val);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct series_key);
	__type(value, struct series_val);
} series SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OA_EV_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OA_ERR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} map_errors SEC(".maps");

/* Per-CPU working memory: too large for the 512-byte BPF stack. */
struct scratch {
	char buf[HTTP_WINDOW];
	__u32 len;
	int parse_result;
	struct http_req_parser parser;
	struct conn_val conn;
	struct series_key key;
	struct series_val zero;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline void count_event(__u32 ev)
{
	__u64 *v = bpf_map_lookup_elem(&events, &ev);

	if (v)
		*v += 1;
}

static __always_inline void count_map_error(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&map_errors, &kind);

	if (v)
		*v += 1;
}

static __always_inline bool is_target(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline void save_io_args(long fd, __u64 buf, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args a = {};

	if (!is_target(id >> 32))
		return;
	a.fd = (__s32)fd;
	a.buf = buf;
	a.kind = kind;
	if (bpf_map_update_elem(&io_args, &id, &a, BPF_ANY))
		count_map_error(OA_ERR_IO_ARGS);
}

/*
 * Copies up to max (at most HTTP_WINDOW) first bytes of the data a syscall
 * moved, from the first iovec segment for readv/writev/recvmsg/sendmsg.
 */
static __always_inline __u32 read_first_segment(const struct io_args *a, long ret, char *dst,
						__u32 max)
{
	__u64 ptr = a->buf;
	__u64 seg_len = ret;
	__u32 n;

	if (a->kind == IO_MSGHDR) {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)ptr))
			return 0;
		ptr = (__u64)msg.msg_iov;
		if (!ptr || msg.msg_iovlen < 1)
			return 0;
	}
	if (a->kind == IO_MSGHDR || a->kind == IO_IOVEC) {
		struct iovec iov;

		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)ptr))
			return 0;
		ptr = (__u64)iov.iov_base;
		if (iov.iov_len < seg_len)
			seg_len = iov.iov_len;
	}
	n = seg_len > max ? max : (__u32)seg_len;
	/* keep the bound visible to the verifier after the compiler's rewrite */
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(2 * HTTP_WINDOW - 1));
	if (n > HTTP_WINDOW)
		return 0;
	if (bpf_probe_read_user(dst, n, (void *)ptr))
		return 0;
	return n;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* bpf_loop's context must live on the stack; it points at the per-CPU scratch. */
struct parse_ctx {
	struct scratch *s;
};

static long request_step_cb(__u64 i, void *ctx)
{
	struct scratch *s = ((struct parse_ctx *)ctx)->s;
	int r;

	if (i >= s->len) {
		s->parse_result = 0;
		return 1;
	}
	r = http_request_step(&s->parser, s->conn.path, s->buf[i & HTTP_WINDOW_MASK]);
	if (r) {
		s->parse_result = r;
		return 1;
	}
	return 0;
}

/* The kernel's driver of the shared parser: bpf_loop is verified once, not per byte. */
static __always_inline int parse_request(struct scratch *s, __u32 len,
					 struct http_request_info *info)
{
	struct parse_ctx pctx = { .s = s };

	__builtin_memset(&s->parser, 0, sizeof(s->parser));
	__builtin_memset(s->conn.path, 0, sizeof(s->conn.path));
	s->len = len;
	s->parse_result = 0;
	bpf_loop(HTTP_WINDOW, request_step_cb, &pctx, 0);
	if (s->parse_result < 0)
		return -1;
	return http_request_finish(&s->parser, info);
}

/* Data read from fd: a request line at its start begins a request on that connection. */
static __always_inline void on_read(const struct io_args *a, __u32 tgid, long ret)
{
	struct conn_key ck = { .tgid = tgid, .fd = a->fd };
	struct http_request_info info;
	struct conn_val *conn;
	struct scratch *s;
	__u32 n;

	conn = bpf_map_lookup_elem(&conns, &ck);
	s = get_scratch();
	if (!s)
		return;
	n = read_first_segment(a, ret, s->buf, HTTP_WINDOW);
	if (!n || parse_request(s, n, &info))
		return;
	if (conn && conn->pending) {
		/* pipelined, or a body that looks like a request line: keep the first */
		count_event(OA_EV_REQUEST_REPLACED);
		return;
	}
	if (!conn && !fd_is_tcp_socket(a->fd))
		return;
	count_event(OA_EV_REQUESTS);
	if (info.truncated)
		count_event(OA_EV_PATH_TRUNCATED);
	s->conn.start_ns = bpf_ktime_get_ns();
	s->conn.method = info.method;
	s->conn.version = info.version;
	s->conn.pending = 1;
	if (bpf_map_update_elem(&conns, &ck, &s->conn, BPF_ANY))
		count_map_error(OA_ERR_CONNS);
}

static __always_inline __u32 bucket_of(__u64 dur_ns)
{
	__u32 i;

	for (i = 0; i < OA_MAX_BOUNDS; i++) {
		if (i >= nr_bounds || dur_ns <= bounds_ns[i])
			return i;
	}
	return OA_MAX_BOUNDS;
}

static __always_inline void record(struct scratch *s, const struct conn_val *conn, __u32 tgid,
				   __u16 status, __u8 version, __u64 dur_ns)
{
	struct series_val *v;
	__u32 b;

	s->key.tgid = tgid;
	s->key.status = status;
	s->key.method = conn->method;
	s->key.version = conn->version ? conn->version : version;
	__builtin_memcpy(s->key.path, conn->path, OA_MAX_PATH);

	v = bpf_map_lookup_elem(&series, &s->key);
	if (!v) {
		if (bpf_map_update_elem(&series, &s->key, &s->zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&series, &s->key)) {
			count_map_error(OA_ERR_SERIES);
			return;
		}
		v = bpf_map_lookup_elem(&series, &s->key);
		if (!v)
			return;
	}
	b = bucket_of(dur_ns);
	v->count += 1;
	v->sum_ns += dur_ns;
	if (b < OA_NR_BUCKETS)
		v->buckets[b] += 1;
}

/* Data written to fd: a final status line answers the request waiting on it. */
static __always_inline void on_write(const struct io_args *a, __u32 tgid, long ret)
{
	struct conn_key ck = { .tgid = tgid, .fd = a->fd };
	struct conn_val *conn;
	struct scratch *s;
	__u8 version = 0;
	__u32 n;
	int status;

	s = get_scratch();
	if (!s)
		return;
	n = read_first_segment(a, ret, s->buf, HTTP_STATUS_LINE_MIN + 1);
	status = http_parse_status(s->buf, n, &version);
	if (!status)
		return;
	conn = bpf_map_lookup_elem(&conns, &ck);
	if (!conn || !conn->pending) {
		count_event(OA_EV_UNMATCHED_RESPONSES);
		return;
	}
	/* 1xx other than 101 are interim: the final status is still to come */
	if (status < 200 && status != 101)
		return;
	count_event(OA_EV_RESPONSES);
	record(s, conn, tgid, status, version, bpf_ktime_get_ns() - conn->start_ns);
	conn->pending = 0;
}

static __always_inline void on_io_exit(long ret, bool is_read)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args *a;
	struct io_args copy;

	a = bpf_map_lookup_elem(&io_args, &id);
	if (!a)
		return;
	copy = *a;
	bpf_map_delete_elem(&io_args, &id);
	if (ret <= 0)
		return;
	if (is_read)
		on_read(&copy, id >> 32, ret);
	else
		on_write(&copy, id >> 32, ret);
}

/* A fd closed or freshly accepted carries no request of an earlier connection. */
static __always_inline void forget_conn(__s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };

	if (!is_target(ck.tgid))
		return;
	bpf_map_delete_elem(&conns, &ck);
}

#define ENTER(name, kind)                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                        \
	int handle_sys_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                                  \
		save_io_args(ctx->args[0], ctx->args[1], kind);            \
		return 0;                                                  \
	}

#define EXIT(name, is_read)                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                       \
	int handle_sys_exit_##name(struct trace_event_raw_sys_exit *ctx) \
	{                                                                \
		on_io_exit(ctx->ret, is_read);                           \
		return 0;                                                \
	}

ENTER(read, IO_PLAIN)
EXIT(read, true)
ENTER(recvfrom, IO_PLAIN)
EXIT(recvfrom, true)
ENTER(readv, IO_IOVEC)
EXIT(readv, true)
ENTER(recvmsg, IO_MSGHDR)
EXIT(recvmsg, true)
ENTER(write, IO_PLAIN)
EXIT(write, false)
ENTER(sendto, IO_PLAIN)
EXIT(sendto, false)
ENTER(writev, IO_IOVEC)
EXIT(writev, false)
ENTER(sendmsg, IO_MSGHDR)
EXIT(sendmsg, false)

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0)
		forget_conn((__s32)ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0)
		forget_conn((__s32)ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int handle_sys_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	forget_conn((__s32)ctx->args[0]);
	return 0;
}

/* Children of a target (workers forked later) are targets too. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ptgid == ctgid || !is_target(ptgid))
		return 0;
	if (bpf_map_update_elem(&targets, &ctgid, &one, BPF_NOEXIST))
		count_map_error(OA_ERR_TARGETS);
	return 0;
}
