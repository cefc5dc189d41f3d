/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x message framing over the bytes a syscall moved, in both
 * directions, so that several requests in one read (pipelining), a request
 * line split over two reads, and several responses in one write are each
 * seen once. A step, called by bpf_loop() (or, before 5.17, a bounded loop:
 * variant.bpf.h), advances through one segment of user memory, loaded 256
 * bytes at a time:
 *  - request lines are fed byte by byte to the shared parser (http_parse.h),
 *    up to LINE_BYTES bytes per step;
 *  - header blocks are scanned in eight-byte words for line ends, a line
 *    per step, and only line starts are looked at (Content-Length,
 *    Transfer-Encoding, the empty line);
 *  - bodies of known length are passed over without being read.
 * Chunked and close-delimited bodies are not followed: the stream is then
 * picked up again at the first byte of a later syscall that starts a message.
 * A request line longer than HTTP_MAX_LINE is a request cut there, the rest
 * of its line passed over as a header line is. What is decided on the
 * window's bytes is in include/http_frame.h (built and fuzzed on the host
 * too); this file loads the window and acts on the decisions.
 */
#ifndef FRAME_BPF_H
#define FRAME_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "otel_agent.h"
#include "http_frame.h"
#include "maps.bpf.h"
#include "counters.bpf.h"
#include "conn.bpf.h"
#include "sock.bpf.h"
#include "variant.bpf.h"

/*
 * bpf_loop's context lives on the stack and only points at the per-CPU
 * scratch (where the position in the stream is kept, struct frame in
 * maps.bpf.h) and the connection. Kept out of the stack, the position is
 * not tracked by the verifier, so the step callback is verified once
 * rather than once per possible position.
 */
struct frame_ctx {
	struct scratch *s;
	struct conn_val *c;
};

/*
 * Makes at least need bytes from pos available in s->buf (fewer at the end
 * of the segment). Returns the index of pos in s->buf, or -1.
 */
static __always_inline int frame_load(struct frame_ctx *f, __u32 need)
{
	__u32 end = f->s->fr.chunk_off + f->s->fr.chunk_len;
	__u32 n;

	if (f->s->fr.pos >= f->s->fr.chunk_off && f->s->fr.pos < end &&
	    (f->s->fr.pos + need <= end || end == f->s->fr.len))
		return (int)(f->s->fr.pos - f->s->fr.chunk_off);
	n = f->s->fr.len - f->s->fr.pos;
	if (n > HTTP_WINDOW)
		n = HTTP_WINDOW;
	/* keep the bound visible to the verifier after the compiler's rewrite */
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n) : [mask] "i"(2 * HTTP_WINDOW - 1));
	if (n == 0 || n > HTTP_WINDOW)
		return -1;
	if (bpf_probe_read_user(f->s->buf, n, (void *)(f->s->fr.base + f->s->fr.pos)))
		return -1;
	f->s->fr.chunk_off = f->s->fr.pos;
	f->s->fr.chunk_len = n;
	return 0;
}

static __always_inline __u32 frame_avail(const struct frame_ctx *f)
{
	return f->s->fr.chunk_off + f->s->fr.chunk_len - f->s->fr.pos;
}

/*
 * The empty line ends the header block: the body's size is known now if it
 * has a Content-Length (or cannot have a body), and what follows depends on
 * the framing.
 */
static __always_inline void end_of_headers(struct frame_ctx *f, struct dir_state *d, __u32 n,
					   bool response)
{
	struct conn_val *c = f->c;
	__u64 size = d->cl_seen ? d->content_length : 0;

	f->s->fr.pos += n;
	if (!response && !d->chunked && !d->bad_length)
		set_request_size(c, f->s->fr.tgid, f->s->fr.fd, size);
	if (response && !d->interim)
		record_answer(f->s, c, f->s->fr.tgid,
			      d->no_body   ? 0
			      : d->cl_seen ? size
					   : NO_SIZE /* chunked or until close */);
	http_end_headers(d, response);
}

/* One step through a header block: a line start and up to 64 bytes of its line. */
static __always_inline void scan_headers(struct frame_ctx *f, struct dir_state *d, bool response)
{
	int off;

	if (d->at_line_start) {
		int ends_block;
		__u32 n;

		off = frame_load(f, 8 * SCAN_WORDS);
		if (off < 0 || !frame_avail(f)) {
			f->s->fr.stop = 1;
			return;
		}
		n = http_line_start(d, f->s->buf, off, frame_avail(f), &ends_block);
		if (ends_block) {
			end_of_headers(f, d, n, response);
			return;
		}
		if (n != HDR_LINE) {
			f->s->fr.pos += n;
			return;
		}
		/* a header line: go on to its end in the same step */
	}
	off = frame_load(f, 8 * SCAN_WORDS);
	if (off < 0) {
		f->s->fr.stop = 1;
		return;
	}
	f->s->fr.pos += http_scan_line(d, f->s->buf, off, frame_avail(f));
}

/* Starts framing one syscall's data for the connection (tgid, fd). */
static __always_inline void frame_begin(struct frame_ctx *f, __u32 tgid, __s32 fd)
{
	__builtin_memset(&f->s->fr, 0, sizeof(f->s->fr));
	f->s->fr.tgid = tgid;
	f->s->fr.fd = fd;
	f->s->fr.first = 1;
}

/*
 * Moves on to the next segment: the next iovec of the current message, or
 * the next message (whose first iovec is then taken at the next step).
 * Returns false when the syscall's data is used up.
 */
static __always_inline bool next_segment(struct frame_ctx *f)
{
	struct frame *fr = &f->s->fr;
	struct iovec iov;
	__u64 len;

	if (!fr->iov_left || !fr->bytes_left) {
		struct mmsghdr mm;

		if (!fr->msg_left || bpf_probe_read_user(&mm, sizeof(mm), (void *)fr->mmsg))
			return false;
		fr->mmsg += sizeof(mm);
		fr->msg_left--;
		fr->iov = (__u64)mm.msg_hdr.msg_iov;
		fr->iov_left = mm.msg_hdr.msg_iovlen;
		fr->have_next = 0;
		fr->bytes_left = mm.msg_len;
		return true;
	}
	if (fr->have_next) {
		iov = fr->next_iov;
		fr->have_next = 0;
	} else if (fr->iov_left >= 2) {
		/* two at once: a header block and a body, the common writev, in one read */
		struct iovec two[2];

		if (bpf_probe_read_user(two, sizeof(two), (void *)fr->iov))
			return false;
		iov = two[0];
		fr->next_iov = two[1];
		fr->have_next = 1;
	} else if (bpf_probe_read_user(&iov, sizeof(iov), (void *)fr->iov)) {
		return false;
	}
	fr->iov += sizeof(iov);
	fr->iov_left--;
	len = iov.iov_len < fr->bytes_left ? iov.iov_len : fr->bytes_left;
	if (len > 0xffffffff)
		len = 0xffffffff;
	fr->bytes_left -= len;
	fr->base = (__u64)iov.iov_base;
	fr->len = (__u32)len;
	fr->pos = 0;
	fr->chunk_off = 0;
	fr->chunk_len = 0;
	fr->syscall_start = fr->first;
	fr->first = 0;
	fr->resync = 0;
	return true;
}

/* Every byte of the syscall's data has been framed: no segment has bytes left. */
static __always_inline bool frame_used_up(const struct frame *fr)
{
	return fr->pos >= fr->len && !(fr->iov_left && fr->bytes_left) && !fr->msg_left;
}

/* The step both directions start with: 1 to stop, 0 to go on, -1 to frame a byte. */
static __always_inline int segment_step(struct frame_ctx *f)
{
	struct frame *fr = &f->s->fr;

	if (!f->c || fr->stop)
		return 1;
	if (fr->pos >= fr->len) {
		if (!next_segment(f))
			return 1;
		/* an empty iovec, or a new message whose first iovec comes next */
		if (fr->pos >= fr->len)
			return 0;
	}
	return -1;
}

/*
 * The bytes at a message start are not a request line. On a connection
 * followed from its start that means it is not HTTP (or the target is its
 * client); on one joined mid-stream (opened before the agent, or inherited),
 * they may be the rest of a request, so wait for a read that starts one.
 */
static __always_inline void request_line_failed(struct frame_ctx *f)
{
	struct conn_val *c = f->c;
	int off;

	f->s->fr.stop = 1;
	c->req.phase = PH_UNFRAMED;
	if (c->kind != CONN_UNKNOWN || f->s->fr.resync)
		return;
	/*
	 * A response read on a connection joined mid-stream: the target is its
	 * client; its next request written is followed.
	 */
	f->s->fr.pos = 0;
	off = frame_load(f, 8);
	if (off >= 0 && frame_avail(f) >= 8 && http_win_word(f->s->buf, off, 0, 7) == W_HTTP1_) {
		c->outbound = 1;
		if (!c->peer_family)
			fd_tcp_peer(f->s->fr.fd, &c->peer_family, c->peer_addr, &c->peer_port);
		return;
	}
	if (!c->fresh)
		return;
	c->kind = CONN_NOT_HTTP;
	count_event(OA_EV_NOT_HTTP);
}

/* The phases both directions share: 1 to stop, 0 to go on, -1 for the caller's own. */
static __always_inline int shared_step(struct frame_ctx *f, struct dir_state *d, bool response)
{
	struct frame *fr = &f->s->fr;

	switch (d->phase) {
	case PH_BODY:
		fr->pos += http_skip_body(d, fr->len - fr->pos);
		return 0;
	case PH_UNFRAMED:
		if (fr->pos || !fr->syscall_start)
			return 1;
		fr->resync = 1;
		d->phase = PH_START;
		return 0;
	case PH_HEADERS:
		scan_headers(f, d, response);
		return 0;
	}
	return -1;
}

/*
 * http_feed_line (http_frame.h) on c's parser. A global function
 * (frame.bpf.c): the verifier checks it once, on its own, instead of in
 * every state of the step that calls it (inlined in the compat build,
 * whose step is a global function already).
 */
OA_POINTER_ARGS_FUNC int feed_request_line(struct conn_val *c, struct scratch *s, __u32 off,
					   __u32 n);

/*
 * Feeds request-line bytes to the parser: 1 to stop, 0 to go on. When the
 * line is complete the request is queued and its header block begins.
 */
static __always_inline int request_line_step(struct frame_ctx *f, struct conn_val *c,
					     struct dir_state *d)
{
	struct http_request_info info;
	__u32 k;
	int off, r;
	char ch;

	off = frame_load(f, LINE_BYTES);
	if (off < 0) {
		f->s->fr.stop = 1;
		return 1;
	}
	r = feed_request_line(c, f->s, (__u32)off, http_line_room(c->line_len, frame_avail(f)));
	k = r & LINE_COUNT_MASK;
	ch = http_win_byte(f->s->buf, off, k - 1);
	f->s->fr.pos += k;
	c->line_len += k;
	/* a long line is a request cut there; the rest of it is skipped as a header line is */
	r = http_line_outcome(&c->parser, line_path(c), r, c->line_len, &info);
	if (r < 0) {
		request_line_failed(f);
		return 1;
	}
	if (r > 0) {
		c->kind = c->outbound ? CONN_CLIENT : CONN_SERVER;
		push_request(f->s, c, f->s->fr.tgid, f->s->fr.fd, &info);
		f->s->fr.resync = 0;
		http_begin_headers(d, r == LINE_ENDED && ch == '\n');
	}
	return 0;
}

/*
 * A request message's start and its request line: 0 or 1 when the step
 * ends here (0 to go on with the next step), -1 to go on to the header
 * block in this step.
 */
static __always_inline int request_start_step(struct frame_ctx *f, struct conn_val *c,
					      struct dir_state *d)
{
	int r;

	if (d->phase == PH_START) {
		c->line_start_ns = bpf_ktime_get_ns();
		c->line_len = 0;
		__builtin_memset(&c->parser, 0, sizeof(c->parser));
		/* with nothing waiting, the request will be queued in q.first: parse its path there */
		c->line_in_first = c->q.head == c->q.tail;
		__builtin_memset(line_path(c), 0, OA_MAX_PATH);
		d->phase = PH_FIRST_LINE;
	}
	if (d->phase != PH_FIRST_LINE)
		return -1;
	r = request_line_step(f, c, d);
	if (r || d->phase == PH_FIRST_LINE || f->s->fr.pos >= f->s->fr.len)
		return r;
	return -1;
}

/*
 * A status line at a message start: a final one answers the oldest waiting
 * request. 1 to stop, 0 to go on with the header block.
 */
static __always_inline int status_line_step(struct frame_ctx *f, struct conn_val *c,
					    struct dir_state *d)
{
	__u8 version = 0;
	int off, status;

	off = frame_load(f, HTTP_STATUS_LINE_MIN + 1);
	if (off < 0)
		return 1;
	status = http_parse_status(&f->s->buf[off & HTTP_WINDOW_MASK], frame_avail(f), &version);
	if (!status) {
		/* bytes the framing did not expect: pick up again at a later write */
		if (f->s->fr.resync || c->q.head != c->q.tail)
			d->phase = PH_UNFRAMED;
		return 1;
	}
	f->s->fr.resync = 0;
	d->interim = status < 200 && status != 101;
	d->no_body = 0;
	if (!d->interim) {
		bool head = answer_request(f->s, c, f->s->fr.tgid, f->s->fr.fd, status, version);

		d->no_body = status == 204 || status == 304 || head;
		if (status == 101) {
			record_answer(f->s, c, f->s->fr.tgid, NO_SIZE);
			c->kind = CONN_UPGRADED;
			count_event(OA_EV_UPGRADED);
			return 1;
		}
	}
	http_begin_headers(d, false);
	f->s->fr.pos += HTTP_STATUS_LINE_MIN;
	return 0;
}

/* A response message's start, its status line: as request_start_step. */
static __always_inline int response_start_step(struct frame_ctx *f, struct conn_val *c,
					       struct dir_state *d)
{
	int r;

	if (d->phase != PH_START)
		return -1;
	r = status_line_step(f, c, d);
	if (r || f->s->fr.pos >= f->s->fr.len)
		return r;
	return -1;
}

/*
 * One step of one direction's stream. A message's start, its first line's
 * end and the first header line can share a step: each step is a callback
 * call. Inlined into one callback per direction, with response a constant,
 * so that each callback has only its own direction's code to verify.
 */
static __always_inline long frame_step(void *vctx, bool response)
{
	struct frame_ctx *f = vctx;
	struct conn_val *c = f->c;
	struct dir_state *d;
	int r;

	r = segment_step(f);
	if (r >= 0)
		return r;
	d = response ? &c->resp : &c->req;
	r = response ? response_start_step(f, c, d) : request_start_step(f, c, d);
	if (r < 0)
		r = shared_step(f, d, response);
	/* stopping as soon as the data is used up spares the step that would find it out */
	return r ? 1 : frame_used_up(&f->s->fr);
}

#ifdef OA_COMPAT
/*
 * No bpf_loop before 5.17: a bounded loop calls the step, a global function
 * (frame.bpf.c) that the verifier checks once, on its own. Taking only
 * scalars (5.10), it finds the scratch and the connection again from the
 * frame's tgid and fd. The verifier walks every iteration of the loop, and
 * past 8192 pending branches gives up: hence fewer steps than bpf_loop's.
 */
#define FRAME_COMPAT_STEPS 1024
int request_step_compat(void);
int response_step_compat(void);

/* Runs the steps; returns whether they ran out before one stopped. */
static __always_inline bool frame_steps(struct frame_ctx *f, bool request)
{
	for (__u32 i = 0; i < FRAME_COMPAT_STEPS; i++) {
		if (request ? request_step_compat() : response_step_compat())
			return false;
	}
	return true;
}
#else
static long request_step(__u64 i, void *vctx)
{
	return frame_step(vctx, false);
}

static long response_step(__u64 i, void *vctx)
{
	return frame_step(vctx, true);
}

/* Runs the steps; returns whether they ran out before one stopped. */
static __always_inline bool frame_steps(struct frame_ctx *f, bool request)
{
	long n;

	if (request)
		n = bpf_loop(FRAME_MAX_STEPS, request_step, f, 0);
	else
		n = bpf_loop(FRAME_MAX_STEPS, response_step, f, 0);
	return n >= FRAME_MAX_STEPS;
}
#endif

/*
 * Runs one direction's framing over everything the syscall moved, set up
 * in the frame beforehand (one buffer, an iovec array, or messages).
 */
static __always_inline void frame_run(struct frame_ctx *f, bool request)
{
	struct frame *fr = &f->s->fr;
	bool ran_out = frame_steps(f, request);

	/* data left: the rest is picked up at a later syscall that starts a message */
	if (!fr->stop && f->c &&
	    (fr->pos < fr->len || (fr->iov_left && fr->bytes_left) || fr->msg_left)) {
		if (ran_out)
			count_event(OA_EV_FRAME_STEPS_OUT);
		if (request)
			f->c->req.phase = PH_UNFRAMED;
		else
			f->c->resp.phase = PH_UNFRAMED;
	}
}

#endif /* FRAME_BPF_H */
