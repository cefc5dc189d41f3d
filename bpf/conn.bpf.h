/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-connection state and what happens to a request: queued when its
 * request line has been read, answered by a final status line (recorded
 * into the series), or ended by a close or reset (recorded as an error).
 */
#ifndef CONN_BPF_H
#define CONN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "otel_agent.h"
#include "http_parse.h"
#include "counters.bpf.h"

/* Requests a connection may have waiting (HTTP pipelining); more are counted, not timed. */
#define OA_MAX_QUEUED 16

enum conn_kind {
	CONN_UNKNOWN,  /* no complete first line yet */
	CONN_SERVER,   /* requests are read, responses written */
	CONN_CLIENT,   /* requests are written, responses read: the target is the client */
	CONN_NOT_HTTP, /* first data was not HTTP/1.x: ignored from then on */
	CONN_UPGRADED, /* switched protocol after a 101: ignored from then on */
	CONN_IGNORED,  /* not a TCP socket (file, pipe, Unix socket) */
};

/* Where a direction's byte stream is, message by message. */
enum msg_phase {
	PH_START,      /* at the first byte of a message */
	PH_FIRST_LINE, /* inside a request line (it may span reads) */
	PH_HEADERS,    /* inside the header block */
	PH_BODY,       /* body_left bytes of body to pass over */
	PH_UNFRAMED,   /* chunked or close-delimited body: resynchronise at a syscall's start */
};

struct dir_state {
	__u32 body_left;
	__u32 content_length;
	__u8 phase;
	__u8 at_line_start; /* the last data ended right after a '\n' */
	__u8 chunked;
	__u8 no_body; /* response to HEAD, 1xx, 204, 304 */
	__u8 interim; /* a 1xx response: the final one is still to come */
	__u8 cl_seen; /* a Content-Length header was seen */
	__u8 _pad[2];
};

struct conn_val {
	struct conn_queue q; /* first: user space reads it (otel_agent.h) */
	__u64 line_start_ns; /* when the request line being read began */
	__u16 line_len;	     /* bytes of the current request line so far */
	__u8 kind;	     /* enum conn_kind */
	__u8 reset;	     /* a read or write failed with a reset */
	__u8 fresh;    /* accepted or connected while traced: its first data starts a message */
	__u8 outbound; /* the target connected it: it would be the client */
	__u8 queued;   /* the request whose headers are being read is in the queue */
	__u8 answer_pending; /* `answer` is answered and not recorded yet: its size is to come */
	__u8 peer_family;    /* 4 or 6, for an outbound connection */
	__u16 peer_port;     /* host order */
	__u8 _pad[2];
	__u8 peer_addr[16];
	__u16 answer_status;
	__u8 answer_version;
	__u8 _pad2[5];
	__u64 answer_dur_ns;
	struct req_val answer; /* the request last answered, until its response's size is known */
	struct dir_state req;  /* requests: read by a server, written by a client */
	struct dir_state resp; /* responses: written by a server, read by a client */
	struct http_req_parser parser;
	char path[OA_MAX_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct conn_key);
	__type(value, struct conn_val);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct req_key);
	__type(value, struct req_val);
} reqs SEC(".maps");

/* Allocated as series appear: a preallocated per-CPU map costs max_entries x CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct series_key);
	__type(value, struct http_stats);
} series SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct client_key);
	__type(value, struct http_stats);
} client_series SEC(".maps");

/*
 * Where the framing is in the bytes of one syscall (frame.bpf.h): the
 * segment being framed, and the iovecs and messages still to come.
 */
struct frame {
	__u64 base;	  /* user address of the segment being framed */
	__u64 iov;	  /* user address of the next struct iovec */
	__u64 mmsg;	  /* user address of the next struct mmsghdr */
	__u64 bytes_left; /* bytes of the current message not given to a segment yet */
	__u32 iov_left;	  /* iovecs left in the current message */
	__u32 msg_left;	  /* mmsghdr messages left */
	__u32 len;	  /* bytes in this segment */
	__u32 pos;	  /* next byte to look at */
	__u32 chunk_off;  /* segment offset of scratch.buf[0] */
	__u32 chunk_len;  /* bytes valid in scratch.buf */
	__u32 tgid;
	__s32 fd;
	__u8 first;	    /* the next segment starts the syscall's data */
	__u8 syscall_start; /* pos 0 is the first byte the syscall moved */
	__u8 resync;	    /* trying to pick up an unframed stream */
	__u8 stop;
	__u8 _pad[4];
};

/* Per-CPU working memory: too large for the 512-byte BPF stack. */
struct scratch {
	struct frame fr;
	char buf[HTTP_WINDOW];
	char pad[16]; /* word reads near the end of buf stay inside the value */
	struct conn_val conn;
	struct req_val req;
	struct series_key key;
	struct client_key ckey;
	struct http_stats zero;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Histogram bounds in nanoseconds and in bytes, ascending; set by the loader before load. */
const volatile __u64 bounds_ns[OA_MAX_BOUNDS] = {};
const volatile __u32 nr_bounds = 0;
const volatile __u64 size_bounds[OA_MAX_SIZE_BOUNDS] = {};
const volatile __u32 nr_size_bounds = 0;

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
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

static __always_inline __u32 size_bucket_of(__u64 size)
{
	__u32 i;

	for (i = 0; i < OA_MAX_SIZE_BOUNDS; i++) {
		if (i >= nr_size_bounds || size <= size_bounds[i])
			return i;
	}
	return OA_MAX_SIZE_BOUNDS;
}

static __always_inline void add_size(struct size_hist *h, __u64 size)
{
	__u32 b = size_bucket_of(size);

	h->count += 1;
	h->sum += size;
	if (b < OA_NR_SIZE_BUCKETS)
		h->buckets[b] += 1;
}

/*
 * The value of key in map, created zeroed if create is set; a failed
 * creation is counted (once per request: later lookups do not create).
 */
static __always_inline struct http_stats *series_value(struct scratch *s, void *map, void *key,
						       bool create)
{
	struct http_stats *v = bpf_map_lookup_elem(map, key);

	if (v || !create)
		return v;
	/* another CPU may create it first: then the lookup below finds it */
	bpf_map_update_elem(map, key, &s->zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		count_map_error(OA_ERR_SERIES);
	return v;
}

/*
 * The series a request belongs to: by path for requests the target
 * answered, by server address for requests it sent.
 */
static __always_inline struct http_stats *series_of(struct scratch *s, const struct conn_val *c,
						    const struct req_val *req, __u32 tgid,
						    __u16 status, __u8 version, __u8 error,
						    bool create)
{
	if (req->client) {
		__builtin_memset(&s->ckey, 0, sizeof(s->ckey));
		s->ckey.tgid = tgid;
		s->ckey.status = status;
		s->ckey.port = c->peer_port;
		s->ckey.method = req->method;
		s->ckey.version = req->version ? req->version : version;
		s->ckey.error = error;
		s->ckey.family = c->peer_family;
		__builtin_memcpy(s->ckey.addr, c->peer_addr, sizeof(s->ckey.addr));
		return series_value(s, &client_series, &s->ckey, create);
	}
	s->key.tgid = tgid;
	s->key.status = status;
	s->key.method = req->method;
	s->key.version = req->version ? req->version : version;
	s->key.error = error;
	__builtin_memcpy(s->key.path, req->path, OA_MAX_PATH);
	return series_value(s, &series, &s->key, create);
}

/* Response body size for record() when there is none to add. */
#define NO_SIZE (~0ULL)

/*
 * Adds one request of req to its series: duration, request body size, and
 * the response body size unless it is NO_SIZE.
 */
static __always_inline void record(struct scratch *s, const struct conn_val *c,
				   const struct req_val *req, __u32 tgid, __u16 status,
				   __u8 version, __u8 error, __u64 dur_ns, __u64 resp_size)
{
	struct http_stats *v = series_of(s, c, req, tgid, status, version, error, true);
	__u32 b;

	if (!v)
		return;
	b = bucket_of(dur_ns);
	v->count += 1;
	v->sum_ns += dur_ns;
	if (b < OA_NR_BUCKETS)
		v->buckets[b] += 1;
	if (req->body_known)
		add_size(&v->req_body, req->body_size);
	if (resp_size != NO_SIZE)
		add_size(&v->resp_body, resp_size);
}

/*
 * Records the answered request once its response's headers have ended
 * (size is its body's size, or NO_SIZE when not known), or when the
 * headers will not end where the framing can see it: the next response
 * starts, the connection ends. One series update per response.
 */
static __always_inline void record_answer(struct scratch *s, struct conn_val *c, __u32 tgid,
					  __u64 size)
{
	if (!c->answer_pending)
		return;
	c->answer_pending = 0;
	record(s, c, &c->answer, tgid, c->answer_status, c->answer_version, OA_CONN_OK,
	       c->answer_dur_ns, size);
}

/* The request whose headers just ended has a body of size bytes. */
static __always_inline void set_request_size(struct conn_val *c, __u32 tgid, __s32 fd, __u64 size)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.tail - 1 };
	struct req_val *r = &c->q.first;

	if (!c->queued)
		return;
	if (rk.seq != c->q.head)
		r = bpf_map_lookup_elem(&reqs, &rk);
	if (!r)
		return;
	r->body_size = size;
	r->body_known = 1;
}

static __always_inline void fill_request(struct req_val *r, const struct conn_val *c,
					 const struct http_request_info *info)
{
	r->start_ns = c->line_start_ns;
	r->body_size = 0;
	r->method = info->method;
	r->version = info->version;
	r->body_known = 0;
	r->client = c->kind == CONN_CLIENT;
	__builtin_memcpy(r->path, c->path, OA_MAX_PATH);
}

/*
 * Queues the request whose line was just read (path and parser in c): in
 * the connection's entry when nothing else is waiting, in reqs otherwise.
 */
static __always_inline void push_request(struct scratch *s, struct conn_val *c, __u32 tgid,
					 __s32 fd, const struct http_request_info *info)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.tail };

	count_event(OA_EV_REQUESTS);
	if (info->truncated)
		count_event(OA_EV_PATH_TRUNCATED);
	c->queued = 0;
	if (c->q.tail - c->q.head >= OA_MAX_QUEUED) {
		count_event(OA_EV_REQUESTS_DROPPED);
		return;
	}
	if (c->q.tail == c->q.head) {
		fill_request(&c->q.first, c, info);
	} else {
		fill_request(&s->req, c, info);
		if (bpf_map_update_elem(&reqs, &rk, &s->req, BPF_ANY)) {
			count_map_error(OA_ERR_REQS);
			return;
		}
	}
	c->q.tail++;
	c->queued = 1;
}

/*
 * The oldest waiting request (c->q.first) has been dealt with: the next
 * one, if any, moves from reqs into the connection's entry.
 */
static __always_inline void advance_queue(struct conn_val *c, __u32 tgid, __s32 fd)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.head + 1 };
	struct req_val *r;

	c->q.head++;
	if (c->q.head == c->q.tail)
		return;
	r = bpf_map_lookup_elem(&reqs, &rk);
	if (!r) {
		/* only user space's reclaim deletes a queued entry: the rest is gone too */
		c->q.head = c->q.tail;
		return;
	}
	c->q.first = *r;
	bpf_map_delete_elem(&reqs, &rk);
}

/* A final status line: the oldest waiting request is answered. */
static __always_inline bool answer_request(struct scratch *s, struct conn_val *c, __u32 tgid,
					   __s32 fd, int status, __u8 version)
{
	if (c->q.head == c->q.tail) {
		count_event(OA_EV_UNMATCHED_RESPONSES);
		return false;
	}
	count_event(OA_EV_RESPONSES);
	record_answer(s, c, tgid, NO_SIZE);
	c->answer = c->q.first;
	c->answer_dur_ns = bpf_ktime_get_ns() - c->q.first.start_ns;
	c->answer_status = (__u16)status;
	c->answer_version = version;
	c->answer_pending = 1;
	advance_queue(c, tgid, fd);
	return true;
}

struct fail_ctx {
	struct scratch *s;
	struct conn_val *c;
	__u32 tgid;
	__s32 fd;
	__u8 error;
};

static long fail_one_cb(__u64 i, void *vctx)
{
	struct fail_ctx *f = vctx;
	struct conn_val *c = f->c;

	if (c->q.head == c->q.tail)
		return 1;
	count_event(OA_EV_CONN_ERRORS);
	record(f->s, c, &c->q.first, f->tgid, 0, 0, f->error,
	       bpf_ktime_get_ns() - c->q.first.start_ns, NO_SIZE);
	advance_queue(c, f->tgid, f->fd);
	return 0;
}

/* The connection ends: every request still waiting is recorded as ended by error. */
static __always_inline void fail_waiting(struct scratch *s, struct conn_val *c, __u32 tgid,
					 __s32 fd)
{
	struct fail_ctx f = {
		.s = s,
		.c = c,
		.tgid = tgid,
		.fd = fd,
		.error = c->reset ? OA_CONN_RESET : OA_CONN_CLOSED,
	};

	if (c->q.head != c->q.tail)
		bpf_loop(OA_MAX_QUEUED, fail_one_cb, &f, 0);
}

#endif /* CONN_BPF_H */
