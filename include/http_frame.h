/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pure part of HTTP/1.x message framing: what a direction's stream
 * state becomes for the bytes in a window, with no map, helper or user
 * memory in it. The kernel (bpf/frame.bpf.h) loads the window from user
 * memory and acts on what these functions decide (queues a request,
 * records an answer); the fuzz harness (tests/fuzz/fuzz_frame.c) drives
 * the same functions over inputs split at random points.
 *
 * A window is HTTP_WINDOW bytes indexed through HTTP_WINDOW_MASK, with 8
 * more readable bytes after it (words are read whole); avail is how many
 * bytes from off arrived: the bytes past them may be stale and are never
 * what a decision rests on.
 */
#ifndef HTTP_FRAME_H
#define HTTP_FRAME_H

#include "http_parse.h"

/*
 * Loops the BPF side wants unrolled (a loop there multiplies the verifier's
 * states); the host compiles them as they are, at any optimisation level.
 */
#ifdef __bpf__
#define HTTP_UNROLL _Pragma("clang loop unroll(full)")
#else
#define HTTP_UNROLL
#endif

/* Steps one syscall's data may take; past it the stream is resynchronised later. */
#define FRAME_MAX_STEPS 8192
/* Request-line bytes a step feeds to the parser. */
#define LINE_BYTES 16
/*
 * Request-line bytes fed to the parser at most. A longer line is a request
 * with its path cut there (truncated) and the rest of its line skipped.
 */
#define HTTP_MAX_LINE 4096

/* Where a direction's byte stream is, message by message. */
enum msg_phase {
	PH_START,      /* at the first byte of a message */
	PH_FIRST_LINE, /* inside a request line (it may span reads) */
	PH_HEADERS,    /* inside the header block (or the rest of a long request line) */
	PH_BODY,       /* body_left bytes of body to pass over */
	PH_UNFRAMED,   /* chunked or close-delimited body: resynchronise at a syscall's start */
};

struct dir_state {
	__u32 body_left;
	__u32 content_length;
	__u8 phase;
	__u8 at_line_start; /* the last data ended right after a '\n' */
	__u8 chunked;
	__u8 no_body;	 /* response to HEAD, 1xx, 204, 304 */
	__u8 interim;	 /* a 1xx response: the final one is still to come */
	__u8 cl_seen;	 /* a Content-Length header was seen */
	__u8 bad_length; /* a Content-Length that is not a number: the framing is lost after it */
	__u8 _pad;
};

#define NL_BYTES   0x0a0a0a0a0a0a0a0aULL
#define ONE_BYTES  0x0101010101010101ULL
#define HIGH_BYTES 0x8080808080808080ULL

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

/* Eight-byte words a header-scanning step looks at. */
#define SCAN_WORDS 8

static __always_inline char http_win_byte(const char *buf, int off, __u32 k)
{
	return buf[(off + k) & HTTP_WINDOW_MASK];
}

/* The 8 bytes at off + k, lowercased, keeping only the first n. */
static __always_inline __u64 http_win_word(const char *buf, int off, __u32 k, __u32 n)
{
	__u64 w;

	__builtin_memcpy(&w, &buf[(off + k) & HTTP_WINDOW_MASK], sizeof(w));
	w |= LOWER_BYTES;
	return n >= 8 ? w : w & ((1ULL << (8 * n)) - 1);
}

/* Spaces after a header's colon: at most two are looked at. */
static __always_inline __u32 http_skip_spaces(const char *buf, int off, __u32 k)
{
	if (http_win_byte(buf, off, k) == ' ')
		k++;
	if (http_win_byte(buf, off, k) == ' ')
		k++;
	return k;
}

/* A header line starts at off: note Content-Length and chunked transfer coding. */
static __always_inline void http_header_line(struct dir_state *d, const char *buf, int off,
					     __u32 avail)
{
	__u32 k, v = 0, digits;
	char c0 = http_win_byte(buf, off, 0) | 0x20;

	/*
	 * Only the bytes that arrived count (the buffer may hold older ones past
	 * them): the header may be the last thing the syscall moved. The name
	 * and one byte after it are enough: "Content-Length:\n" ends there.
	 */
	if (c0 == 'c' && avail >= 16 && http_win_word(buf, off, 0, 8) == W_CONTENT_ &&
	    http_win_word(buf, off, 8, 7) == W_LENGTH_) {
		k = http_skip_spaces(buf, off, 15);
		/* up to ten digits, unrolled: a loop here multiplies the verifier's states */
		HTTP_UNROLL
		for (digits = 0; digits < 10; digits++) {
			char ch = http_win_byte(buf, off, k + digits);

			if (k + digits >= avail || ch < '0' || ch > '9')
				break;
			v = v * 10 + (ch - '0');
		}
		/* the value must end before the data does, or it may go on in the next syscall */
		if (k + digits < avail) {
			char end = http_win_byte(buf, off, k + digits);

			if (digits && (end == '\r' || end == '\n' || end == ' ' || end == '\t')) {
				d->content_length = v;
				d->cl_seen = 1;
			} else {
				/* "-1", "12x", more than ten digits: where the body ends is unknown */
				d->bad_length = 1;
			}
		}
	} else if (c0 == 't' && avail >= 25 && http_win_word(buf, off, 0, 8) == W_TRANSFER &&
		   http_win_word(buf, off, 8, 8) == W__ENCODIN &&
		   http_win_word(buf, off, 16, 2) == W_G_) {
		k = http_skip_spaces(buf, off, 18);
		if (k + 7 <= avail && http_win_word(buf, off, k, 7) == W_CHUNKED)
			d->chunked = 1;
	}
}

/* Index of the first '\n' in an 8-byte word that has one. */
static __always_inline __u32 http_first_newline(__u64 w)
{
	__u32 k;

	HTTP_UNROLL
	for (k = 0; k < 8; k++) {
		if (((w >> (8 * k)) & 0xff) == '\n')
			return k;
	}
	return 7;
}

/*
 * Inside a line of a header block (or the rest of a long request line):
 * the bytes to pass over towards the line's end, up to SCAN_WORDS words;
 * at_line_start is set when they end with its '\n'.
 */
static __always_inline __u32 http_scan_line(struct dir_state *d, const char *buf, int off,
					    __u32 avail)
{
	__u32 k;

	if (avail < 8) {
		if (http_win_byte(buf, off, 0) == '\n')
			d->at_line_start = 1;
		return 1;
	}
	/* several words per step: each step is a callback call */
	HTTP_UNROLL
	for (k = 0; k < SCAN_WORDS; k++) {
		__u64 w, x;

		if (avail < 8 * (k + 1))
			break;
		__builtin_memcpy(&w, &buf[(off + 8 * k) & HTTP_WINDOW_MASK], sizeof(w));
		x = w ^ NL_BYTES;
		if ((x - ONE_BYTES) & ~x & HIGH_BYTES) {
			d->at_line_start = 1;
			return 8 * k + http_first_newline(w) + 1;
		}
	}
	return 8 * k;
}

#define HDR_LINE 0 /* a header line starts here: scan to its end */

/*
 * At a line start in a header block: HDR_LINE for a header line (looked at
 * and no longer at its start), else the bytes that end the block (the empty
 * line, as ends_block says) or the lone '\r' to pass over.
 */
static __always_inline __u32 http_line_start(struct dir_state *d, const char *buf, int off,
					     __u32 avail, int *ends_block)
{
	char c0 = http_win_byte(buf, off, 0);

	*ends_block = 0;
	if (c0 == '\n') {
		*ends_block = 1;
		return 1;
	}
	if (c0 == '\r') {
		if (avail >= 2 && http_win_byte(buf, off, 1) == '\n') {
			*ends_block = 1;
			return 2;
		}
		return 1; /* the '\n' is in the next syscall's data */
	}
	d->at_line_start = 0;
	http_header_line(d, buf, off, avail);
	return HDR_LINE;
}

/* A message's header block begins: nothing is known about its framing yet. */
static __always_inline void http_begin_headers(struct dir_state *d, int at_line_start)
{
	d->phase = PH_HEADERS;
	d->at_line_start = at_line_start;
	d->cl_seen = 0;
	d->bad_length = 0;
	d->chunked = 0;
	d->content_length = 0;
}

/*
 * The empty line ended the header block: what follows depends on the
 * framing. The body's size is known if it has a Content-Length (or cannot
 * have a body).
 */
static __always_inline void http_end_headers(struct dir_state *d, int response)
{
	d->at_line_start = 0;
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

/* Passes over up to n bytes of a body: returns how many. */
static __always_inline __u32 http_skip_body(struct dir_state *d, __u32 n)
{
	if (n > d->body_left)
		n = d->body_left;
	d->body_left -= n;
	if (!d->body_left)
		d->phase = PH_START;
	return n;
}

/* Request-line bytes the next step may feed: LINE_BYTES, fewer at the line limit. */
static __always_inline __u32 http_line_room(__u32 line_len, __u32 avail)
{
	__u32 room = line_len < HTTP_MAX_LINE ? HTTP_MAX_LINE - line_len : 0;

	return avail < room ? avail : room;
}

#define LINE_DONE	0x100
#define LINE_FAILED	0x200
#define LINE_COUNT_MASK 0xff

/*
 * Feeds up to n request-line bytes (at most LINE_BYTES) from the window at
 * off to the parser. Returns the bytes used, with LINE_DONE when the line
 * ended or LINE_FAILED when it is not a request line.
 */
static __always_inline int http_feed_line(struct http_req_parser *p, char *path, const char *buf,
					  __u32 off, __u32 n)
{
	__u32 k;
	int r = 0;

	HTTP_UNROLL
	for (k = 0; k < LINE_BYTES; k++) {
		if (k >= n)
			return k;
		r = http_request_step(p, path, buf[(off + k) & HTTP_WINDOW_MASK]);
		if (r)
			return (k + 1) | (r > 0 ? LINE_DONE : LINE_FAILED);
	}
	return LINE_BYTES;
}

/* What the bytes fed so far make of a request line. */
enum http_line_outcome {
	LINE_NOT_REQUEST = -1,
	LINE_GO_ON = 0,
	LINE_ENDED = 1, /* a request line, complete */
	LINE_CUT = 2,	/* a request line cut at HTTP_MAX_LINE: the rest of it is to skip */
};

/*
 * fed: what http_feed_line returned; line_len: the line's bytes fed so far.
 * For a request line, info is filled and path[] settled.
 */
static __always_inline int http_line_outcome(struct http_req_parser *p, char *path, int fed,
					     __u32 line_len, struct http_request_info *info)
{
	if (fed & LINE_FAILED)
		return LINE_NOT_REQUEST;
	if (fed & LINE_DONE) {
		http_path_settle(p, path);
		return http_request_finish(p, info) ? LINE_NOT_REQUEST : LINE_ENDED;
	}
	if (line_len >= HTTP_MAX_LINE) {
		http_path_settle(p, path);
		return http_request_cut(p, info) ? LINE_NOT_REQUEST : LINE_CUT;
	}
	return LINE_GO_ON;
}

#endif /* HTTP_FRAME_H */
