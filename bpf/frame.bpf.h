/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x message framing over the bytes a syscall moved, in both
 * directions, so that several requests in one read (pipelining), a request
 * line split over two reads, and several responses in one write are each
 * seen once. A step callback driven by bpf_loop() advances through one
 * segment of user memory, loaded 256 bytes at a time:
 *  - request lines are fed byte by byte to the shared parser (http_parse.h),
 *    up to LINE_BYTES bytes per step;
 *  - header blocks are scanned in eight-byte words for line ends, a line
 *    per step, and only line starts are looked at (Content-Length,
 *    Transfer-Encoding, the empty line);
 *  - bodies of known length are passed over without being read.
 * Chunked and close-delimited bodies are not followed: the stream is then
 * picked up again at the first byte of a later syscall that starts a message.
 */
#ifndef FRAME_BPF_H
#define FRAME_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "otel_agent.h"
#include "http_parse.h"
#include "maps.bpf.h"
#include "counters.bpf.h"
#include "conn.bpf.h"
#include "sock.bpf.h"

/* Steps one syscall's data may take; past it the stream is resynchronised later. */
#define FRAME_MAX_STEPS 8192
/* Request-line bytes a step feeds to the parser. */
#define LINE_BYTES 16
/* A request line that has not ended after this many bytes is not HTTP. */
#define HTTP_MAX_LINE 4096

#define NL_BYTES   0x0a0a0a0a0a0a0a0aULL
#define ONE_BYTES  0x0101010101010101ULL
#define HIGH_BYTES 0x8080808080808080ULL

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

static __always_inline char frame_byte(const struct frame_ctx *f, int off, __u32 k)
{
	return f->s->buf[(off + k) & HTTP_WINDOW_MASK];
}

static __always_inline void skip_body(struct frame_ctx *f, struct dir_state *d)
{
	__u32 n = f->s->fr.len - f->s->fr.pos;

	if (n > d->body_left)
		n = d->body_left;
	f->s->fr.pos += n;
	d->body_left -= n;
	if (!d->body_left)
		d->phase = PH_START;
}

/*
 * Header names are matched eight bytes at a time, lowercased by setting bit
 * 5 of every byte (harmless for '-', ':', '/', '.' and digits); the words are
 * the little-endian bytes of "content-", "length:", ... A loop over the
 * name's bytes would multiply the verifier's states inside the step callback.
 */
#define LOWER_BYTES 0x2020202020202020ULL
#define W_CONTENT_  0x2d746e65746e6f63ULL /* "content-" */
#define W_LENGTH_   0x3a6874676e656cULL	  /* "length:" */
#define W_TRANSFER  0x726566736e617274ULL /* "transfer" */
#define W__ENCODIN  0x6e69646f636e652dULL /* "-encodin" */
#define W_G_	    0x3a67ULL		  /* "g:" */
#define W_CHUNKED   0x64656b6e756863ULL	  /* "chunked" */
#define W_HTTP1_    0x2e312f70747468ULL	  /* "http/1." */

/* The 8 bytes at off + k, lowercased, keeping only the first n. */
static __always_inline __u64 frame_word(const struct frame_ctx *f, int off, __u32 k, __u32 n)
{
	__u64 w;

	__builtin_memcpy(&w, &f->s->buf[(off + k) & HTTP_WINDOW_MASK], sizeof(w));
	w |= LOWER_BYTES;
	return n >= 8 ? w : w & ((1ULL << (8 * n)) - 1);
}

/* Spaces after a header's colon: at most two are looked at. */
static __always_inline __u32 skip_spaces(const struct frame_ctx *f, int off, __u32 k)
{
	if (frame_byte(f, off, k) == ' ')
		k++;
	if (frame_byte(f, off, k) == ' ')
		k++;
	return k;
}

/* A header line starts at pos: note Content-Length and chunked transfer coding. */
static __always_inline void header_line(struct frame_ctx *f, struct dir_state *d, int off)
{
	__u32 avail = frame_avail(f), k, v = 0, digits;
	char c0 = frame_byte(f, off, 0) | 0x20;

	/*
	 * Only the bytes that arrived count (the buffer may hold older ones past
	 * them): the header may be the last thing the syscall moved.
	 */
	if (c0 == 'c' && avail >= 17 && frame_word(f, off, 0, 8) == W_CONTENT_ &&
	    frame_word(f, off, 8, 7) == W_LENGTH_) {
		k = skip_spaces(f, off, 15);
		/* up to ten digits, unrolled: a loop here multiplies the verifier's states */
#pragma clang loop unroll(full)
		for (digits = 0; digits < 10; digits++) {
			char ch = frame_byte(f, off, k + digits);

			if (k + digits >= avail || ch < '0' || ch > '9')
				break;
			v = v * 10 + (ch - '0');
		}
		/* the value must end before the data does, or it may go on in the next syscall */
		if (k + digits < avail) {
			char end = frame_byte(f, off, k + digits);

			if (digits && (end == '\r' || end == '\n' || end == ' ' || end == '\t')) {
				d->content_length = v;
				d->cl_seen = 1;
			} else {
				/* "-1", "12x", more than ten digits: where the body ends is unknown */
				d->bad_length = 1;
			}
		}
	} else if (c0 == 't' && avail >= 25 && frame_word(f, off, 0, 8) == W_TRANSFER &&
		   frame_word(f, off, 8, 8) == W__ENCODIN && frame_word(f, off, 16, 2) == W_G_) {
		k = skip_spaces(f, off, 18);
		if (k + 7 <= avail && frame_word(f, off, k, 7) == W_CHUNKED)
			d->chunked = 1;
	}
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
	d->at_line_start = 0;
	if (!response && !d->chunked && !d->bad_length)
		set_request_size(c, f->s->fr.tgid, f->s->fr.fd, size);
	if (response && !d->interim)
		record_answer(f->s, c, f->s->fr.tgid,
			      d->no_body   ? 0
			      : d->cl_seen ? size
					   : NO_SIZE /* chunked or until close */);
	if (response && (d->interim || d->no_body)) {
		d->phase = PH_START;
	} else if (d->chunked || d->bad_length || (response && !d->cl_seen)) {
		d->phase = PH_UNFRAMED;
	} else if (d->cl_seen && d->content_length) {
		d->body_left = d->content_length;
		d->phase = PH_BODY;
	} else {
		d->phase = PH_START;
	}
}

/* Index of the first '\n' in an 8-byte word that has one. */
static __always_inline __u32 first_newline(__u64 w)
{
	__u32 k;

#pragma clang loop unroll(full)
	for (k = 0; k < 8; k++) {
		if (((w >> (8 * k)) & 0xff) == '\n')
			return k;
	}
	return 7;
}

/* Eight-byte words a header-scanning step looks at. */
#define SCAN_WORDS 8

/* One step through a header block: a line start and up to 64 bytes of its line. */
static __always_inline void scan_headers(struct frame_ctx *f, struct dir_state *d, bool response)
{
	__u32 avail;
	int off;

	if (d->at_line_start) {
		char c0;

		off = frame_load(f, 8 * SCAN_WORDS);
		if (off < 0 || !frame_avail(f)) {
			f->s->fr.stop = 1;
			return;
		}
		c0 = frame_byte(f, off, 0);
		if (c0 == '\n') {
			end_of_headers(f, d, 1, response);
			return;
		}
		if (c0 == '\r') {
			if (frame_avail(f) >= 2 && frame_byte(f, off, 1) == '\n')
				end_of_headers(f, d, 2, response);
			else
				f->s->fr.pos += 1; /* the '\n' is in the next syscall's data */
			return;
		}
		/* a header line: look at its name, then go on to its end in the same step */
		d->at_line_start = 0;
		header_line(f, d, off);
	}
	off = frame_load(f, 8 * SCAN_WORDS);
	if (off < 0) {
		f->s->fr.stop = 1;
		return;
	}
	avail = frame_avail(f);
	if (avail >= 8) {
		__u32 k;

		/* several words per step: each step is a callback call */
#pragma clang loop unroll(full)
		for (k = 0; k < SCAN_WORDS; k++) {
			__u64 w, x;

			if (avail < 8 * (k + 1))
				break;
			__builtin_memcpy(&w, &f->s->buf[(off + 8 * k) & HTTP_WINDOW_MASK],
					 sizeof(w));
			x = w ^ NL_BYTES;
			if ((x - ONE_BYTES) & ~x & HIGH_BYTES) {
				f->s->fr.pos += 8 * k + first_newline(w) + 1;
				d->at_line_start = 1;
				return;
			}
		}
		f->s->fr.pos += 8 * k;
		return;
	}
	if (frame_byte(f, off, 0) == '\n')
		d->at_line_start = 1;
	f->s->fr.pos += 1;
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
		fr->bytes_left = mm.msg_len;
		return true;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)fr->iov))
		return false;
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
	if (off >= 0 && frame_avail(f) >= 8 && frame_word(f, off, 0, 7) == W_HTTP1_) {
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

/* A message's header block begins: nothing is known about its framing yet. */
static __always_inline void begin_headers(struct dir_state *d, bool at_line_start)
{
	d->phase = PH_HEADERS;
	d->at_line_start = at_line_start;
	d->cl_seen = 0;
	d->bad_length = 0;
	d->chunked = 0;
	d->content_length = 0;
}

/* The phases both directions share: 1 to stop, 0 to go on, -1 for the caller's own. */
static __always_inline int shared_step(struct frame_ctx *f, struct dir_state *d, bool response)
{
	struct frame *fr = &f->s->fr;

	switch (d->phase) {
	case PH_BODY:
		skip_body(f, d);
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

#define LINE_DONE	0x100
#define LINE_FAILED	0x200
#define LINE_COUNT_MASK 0xff

/*
 * Feeds up to n request-line bytes (at most LINE_BYTES) from s->buf at off
 * to c's parser. Returns the bytes used, with LINE_DONE when the line ended
 * or LINE_FAILED when it is not a request line. A global function
 * (frame.bpf.c): the verifier checks it once, on its own, instead of in
 * every state of the step that calls it.
 */
int feed_request_line(struct conn_val *c, struct scratch *s, __u32 off, __u32 n);

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
	r = feed_request_line(c, f->s, (__u32)off, frame_avail(f));
	k = r & LINE_COUNT_MASK;
	ch = frame_byte(f, off, k - 1);
	r = r & LINE_DONE ? 1 : r & LINE_FAILED ? -1 : 0;
	f->s->fr.pos += k;
	c->line_len += k;
	if (r > 0 && http_request_finish(&c->parser, &info))
		r = -1;
	if (r < 0 || (!r && c->line_len >= HTTP_MAX_LINE)) {
		request_line_failed(f);
		return 1;
	}
	if (r > 0) {
		c->kind = c->outbound ? CONN_CLIENT : CONN_SERVER;
		push_request(f->s, c, f->s->fr.tgid, f->s->fr.fd, &info);
		f->s->fr.resync = 0;
		begin_headers(d, ch == '\n');
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
		__builtin_memset(c->path, 0, sizeof(c->path));
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
		bool matched = answer_request(f->s, c, f->s->fr.tgid, f->s->fr.fd, status, version);

		d->no_body = status == 204 || status == 304 ||
			     (matched && c->answer.method == OA_METHOD_HEAD);
		if (status == 101) {
			record_answer(f->s, c, f->s->fr.tgid, NO_SIZE);
			c->kind = CONN_UPGRADED;
			count_event(OA_EV_UPGRADED);
			return 1;
		}
	}
	begin_headers(d, false);
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
	if (r >= 0)
		return r;
	r = shared_step(f, d, response);
	return r >= 0 ? r : 1;
}

static long request_step(__u64 i, void *vctx)
{
	return frame_step(vctx, false);
}

static long response_step(__u64 i, void *vctx)
{
	return frame_step(vctx, true);
}

/*
 * Runs one direction's framing over everything the syscall moved, set up
 * in the frame beforehand (one buffer, an iovec array, or messages).
 */
static __always_inline void frame_run(struct frame_ctx *f, bool request)
{
	struct frame *fr = &f->s->fr;

	if (request)
		bpf_loop(FRAME_MAX_STEPS, request_step, f, 0);
	else
		bpf_loop(FRAME_MAX_STEPS, response_step, f, 0);
	/* out of steps with data left: the rest is picked up at a later syscall */
	if (!fr->stop && f->c &&
	    (fr->pos < fr->len || (fr->iov_left && fr->bytes_left) || fr->msg_left)) {
		if (request)
			f->c->req.phase = PH_UNFRAMED;
		else
			f->c->resp.phase = PH_UNFRAMED;
	}
}

#endif /* FRAME_BPF_H */
