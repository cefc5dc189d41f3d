/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer harness for the framing of include/http_frame.h (built and run
 * by `make fuzz`). A model of the kernel's step loop (bpf/frame.bpf.h:
 * frame_load's 256-byte window, one step per bpf_loop call, the step limit
 * per syscall) drives the shared functions over a request stream, as a
 * server reads it, and over a response stream, as a server writes it. The
 * stream is framed whole, then again split at random points, as reads and
 * writes split it. Checked:
 *  - the same messages come out however the stream is split (requests with
 *    their method, path, version and truncation, body sizes, where the
 *    framing stops), at every split point the framing supports: anywhere in
 *    a request line, a body or a long line's rest; not inside the first
 *    bytes of a header line or of a status line, which must arrive whole;
 *  - the window bytes past what arrived are never looked at: they are
 *    0xa5 when the stream is framed whole, and line ends, spaces or digits
 *    when it is split;
 *  - every step makes progress, and the state stays in range (phase, flags,
 *    body_left, line_len, the parser's lengths, a NUL-terminated path of at
 *    most OA_MAX_PATH - 1 bytes; a line cut at HTTP_MAX_LINE has a known
 *    method, no version, and is truncated when cut in its path).
 * ASan sees a read outside the window, which is exactly HTTP_WINDOW + 16
 * bytes as in the kernel's scratch.
 *
 * Input: a flags byte (bit 0: responses; bits 1-7 and the next four bytes
 * seed the splits), then the stream, where 0xff N stands for the byte
 * before it repeated 32 * (N + 1) times, so short inputs reach long lines.
 * FUZZ_FRAME_PRINT=1 in the environment prints what an input frames to.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_frame.h"

#define MAX_STREAM (96 * 1024)
#define MAX_EVENTS 256
#define MAX_SPANS  1024
#define MAX_CHUNKS 64
/* Bytes of a header line that must arrive together (Content-Length: up to 10 digits and an end). */
#define HEADER_WHOLE 28

#define CHECK(cond, ...)                                            \
	do {                                                        \
		if (!(cond)) {                                      \
			fprintf(stderr, "fuzz_frame: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);               \
			fputc('\n', stderr);                        \
			abort();                                    \
		}                                                   \
	} while (0)

enum ev_kind {
	EV_REQUEST = 1, /* a request line: queued */
	EV_SIZE,	/* a request's header block ended: its body size */
	EV_ANSWER,	/* a final status line */
	EV_RESP_SIZE,	/* a final response's header block ended: its body size */
	EV_INTERIM,	/* a 1xx status line */
	EV_NOT_HTTP,	/* the first bytes are not a request line: the connection is ignored */
	EV_UNFRAMED,	/* the framing cannot follow: it resynchronises at a later syscall */
	EV_UPGRADED,	/* a 101: the connection is no longer HTTP */
};

struct event {
	__u8 kind;
	__u8 method, version, truncated;
	__u32 value; /* status, or a body size (NO_SIZE: unknown) */
	char path[OA_MAX_PATH];
};

#define NO_SIZE 0xffffffffu

/* Stream positions where a split is not supported: (from, to]. */
struct span {
	__u32 from, to;
};

/* One direction of one connection, as the kernel keeps it, and the window. */
struct model {
	int response;
	struct dir_state d;
	struct http_req_parser parser;
	char path[OA_MAX_PATH];
	__u32 line_len;
	int done; /* a terminal event: nothing after it is split-independent */
	int too_many_steps;
	/* the segment (one syscall's data) and the window into it */
	const char *seg;
	__u32 base; /* stream offset of seg[0] */
	__u32 len, pos, chunk_off, chunk_len;
	int stop;
	char buf[HTTP_WINDOW + 16];
	/* what came out */
	struct event ev[MAX_EVENTS];
	unsigned int nev;
	/* recorded on the whole stream: where splits are not supported */
	struct span *spans;
	unsigned int nspans;
	const char *stream;
	__u32 stream_len;
};

static struct event *emit(struct model *m, enum ev_kind kind)
{
	struct event *e;

	if (m->nev >= MAX_EVENTS) {
		m->done = 1; /* enough: what comes later is not compared */
		return NULL;
	}
	e = &m->ev[m->nev++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (kind == EV_NOT_HTTP || kind == EV_UNFRAMED || kind == EV_UPGRADED)
		m->done = 1;
	return e;
}

static void no_split(struct model *m, __u32 from, __u32 want)
{
	const char *nl;
	__u32 to = from + want;

	if (!m->spans || m->nspans >= MAX_SPANS)
		return;
	nl = memchr(m->stream + from, '\n', m->stream_len - from);
	if (nl && (__u32)(nl - m->stream) < to)
		to = nl - m->stream;
	if (to > m->stream_len)
		to = m->stream_len;
	m->spans[m->nspans++] = (struct span){ from, to };
}

/* frame_load of bpf/frame.bpf.h, with memcpy for bpf_probe_read_user. */
static int model_load(struct model *m, __u32 need)
{
	__u32 end = m->chunk_off + m->chunk_len, n;

	if (m->pos >= m->chunk_off && m->pos < end && (m->pos + need <= end || end == m->len))
		return (int)(m->pos - m->chunk_off);
	n = m->len - m->pos;
	if (n > HTTP_WINDOW)
		n = HTTP_WINDOW;
	if (n == 0)
		return -1;
	memcpy(m->buf, m->seg + m->pos, n);
	m->chunk_off = m->pos;
	m->chunk_len = n;
	return 0;
}

static __u32 model_avail(const struct model *m)
{
	return m->chunk_off + m->chunk_len - m->pos;
}

static void end_of_headers(struct model *m, __u32 n)
{
	struct dir_state *d = &m->d;
	__u32 size = d->cl_seen ? d->content_length : 0;
	struct event *e;

	m->pos += n;
	if (!m->response && !d->chunked && !d->bad_length && (e = emit(m, EV_SIZE)))
		e->value = size;
	if (m->response && !d->interim && (e = emit(m, EV_RESP_SIZE)))
		e->value = d->no_body ? 0 : d->cl_seen ? size : NO_SIZE;
	http_end_headers(d, m->response);
	if (d->phase == PH_UNFRAMED)
		emit(m, EV_UNFRAMED);
}

/* scan_headers of bpf/frame.bpf.h. */
static void scan_headers(struct model *m)
{
	struct dir_state *d = &m->d;
	int off;

	if (d->at_line_start) {
		int ends_block;
		__u32 n;

		off = model_load(m, 8 * SCAN_WORDS);
		if (off < 0 || !model_avail(m)) {
			m->stop = 1;
			return;
		}
		n = http_line_start(d, m->buf, off, model_avail(m), &ends_block);
		if (ends_block) {
			end_of_headers(m, n);
			return;
		}
		if (n != HDR_LINE) {
			m->pos += n;
			return;
		}
		no_split(m, m->base + m->pos, HEADER_WHOLE);
	}
	off = model_load(m, 8 * SCAN_WORDS);
	if (off < 0) {
		m->stop = 1;
		return;
	}
	m->pos += http_scan_line(d, m->buf, off, model_avail(m));
}

static void check_path(const struct model *m, const struct http_request_info *info, int outcome)
{
	const char *nul = memchr(m->path, 0, OA_MAX_PATH);
	__u32 k;

	CHECK(nul && nul > m->path, "the path is empty or has no NUL");
	for (k = nul - m->path; k < OA_MAX_PATH; k++)
		CHECK(!m->path[k], "byte %u after the path's NUL is %#x", k,
		      (unsigned char)m->path[k]);
	CHECK(m->path[0] == '/' || m->path[0] == '*', "the path starts with %#x",
	      (unsigned char)m->path[0]);
	if (outcome == LINE_CUT)
		CHECK(!info->version && info->method != OA_METHOD_OTHER,
		      "a cut line has version %u, method %u", info->version, info->method);
	if (outcome == LINE_CUT && m->parser.state == HTTP_REQ_PATH)
		CHECK(info->truncated, "a line cut in its path is not truncated");
}

/* request_line_step of bpf/frame.bpf.h: 1 to stop, 0 to go on. */
static int request_line_step(struct model *m)
{
	struct http_request_info info;
	struct event *e;
	__u32 k;
	int off, r;
	char ch;

	off = model_load(m, LINE_BYTES);
	if (off < 0) {
		m->stop = 1;
		return 1;
	}
	r = http_feed_line(&m->parser, m->path, m->buf, (__u32)off,
			   http_line_room(m->line_len, model_avail(m)));
	k = r & LINE_COUNT_MASK;
	CHECK(k >= 1 && k <= LINE_BYTES && k <= model_avail(m), "fed %u of %u bytes", k,
	      model_avail(m));
	ch = m->buf[(off + k - 1) & HTTP_WINDOW_MASK];
	m->pos += k;
	m->line_len += k;
	CHECK(m->line_len <= HTTP_MAX_LINE, "line_len %u", m->line_len);
	r = http_line_outcome(&m->parser, m->path, r, m->line_len, &info);
	if (r < 0) {
		/* a fresh server connection: its first line decides; later it is lost framing */
		emit(m, m->nev ? EV_UNFRAMED : EV_NOT_HTTP);
		m->stop = 1;
		return 1;
	}
	if (r > 0) {
		check_path(m, &info, r);
		if ((e = emit(m, EV_REQUEST))) {
			e->method = info.method;
			e->version = info.version;
			e->truncated = info.truncated;
			memcpy(e->path, m->path, OA_MAX_PATH);
		}
		http_begin_headers(&m->d, r == LINE_ENDED && ch == '\n');
	}
	return 0;
}

/* status_line_step of bpf/frame.bpf.h, with no request to match: 1 to stop, 0 to go on. */
static int status_line_step(struct model *m)
{
	struct dir_state *d = &m->d;
	__u8 version = 0;
	struct event *e;
	int off, status;

	no_split(m, m->base + m->pos, HTTP_STATUS_LINE_MIN + 1);
	off = model_load(m, HTTP_STATUS_LINE_MIN + 1);
	if (off < 0)
		return 1;
	status = http_parse_status(&m->buf[off & HTTP_WINDOW_MASK], model_avail(m), &version);
	if (!status) {
		emit(m, EV_UNFRAMED);
		return 1;
	}
	CHECK(status >= 100 && status <= 599, "status %d", status);
	d->interim = status < 200 && status != 101;
	d->no_body = 0;
	if ((e = emit(m, d->interim ? EV_INTERIM : EV_ANSWER))) {
		e->value = (__u32)status;
		e->version = version;
	}
	if (!d->interim) {
		d->no_body = status == 204 || status == 304;
		if (status == 101) {
			emit(m, EV_UPGRADED);
			return 1;
		}
	}
	http_begin_headers(d, 0);
	m->pos += HTTP_STATUS_LINE_MIN;
	return 0;
}

/* frame_step of bpf/frame.bpf.h for one direction: 1 to stop, 0 to go on. */
static int model_step(struct model *m)
{
	struct dir_state *d = &m->d;
	int r;

	if (m->stop || m->done || m->pos >= m->len)
		return 1;
	if (!m->response) {
		if (d->phase == PH_START) {
			m->line_len = 0;
			memset(&m->parser, 0, sizeof(m->parser));
			memset(m->path, 0, sizeof(m->path));
			d->phase = PH_FIRST_LINE;
		}
		if (d->phase == PH_FIRST_LINE) {
			r = request_line_step(m);
			if (r || d->phase == PH_FIRST_LINE || m->pos >= m->len)
				return r;
		}
	} else if (d->phase == PH_START) {
		r = status_line_step(m);
		if (r || m->pos >= m->len)
			return r;
	}
	switch (d->phase) {
	case PH_BODY:
		m->pos += http_skip_body(d, m->len - m->pos);
		return 0;
	case PH_HEADERS:
		scan_headers(m);
		return 0;
	}
	CHECK(0, "phase %u in a step", d->phase);
	return 1;
}

static void check_state(const struct model *m)
{
	const struct dir_state *d = &m->d;

	CHECK(d->phase <= PH_UNFRAMED, "phase %u", d->phase);
	CHECK(d->at_line_start <= 1 && d->chunked <= 1 && d->cl_seen <= 1 && d->bad_length <= 1 &&
		      d->interim <= 1 && d->no_body <= 1,
	      "a flag out of range");
	CHECK(d->phase != PH_BODY || (d->body_left && d->body_left <= d->content_length),
	      "body_left %u of %u", d->body_left, d->content_length);
	CHECK(m->pos <= m->len, "pos %u past the segment's %u bytes", m->pos, m->len);
	CHECK(m->chunk_len <= HTTP_WINDOW, "chunk_len %u", m->chunk_len);
	CHECK(m->line_len <= HTTP_MAX_LINE, "line_len %u", m->line_len);
	CHECK(m->parser.state <= HTTP_REQ_VERSION, "parser state %u", m->parser.state);
	CHECK(m->parser.mlen <= HTTP_MAX_METHOD && m->parser.vlen <= 8, "mlen %u vlen %u",
	      m->parser.mlen, m->parser.vlen);
	CHECK(m->parser.plen <= OA_MAX_PATH - 1, "plen %u", m->parser.plen);
}

/* One syscall's data: the steps frame_run gives it. */
static void model_segment(struct model *m, const char *seg, __u32 base, __u32 len)
{
	__u32 steps, before;
	__u8 phase;

	m->seg = seg;
	m->base = base;
	m->len = len;
	m->pos = 0;
	m->chunk_off = 0;
	m->chunk_len = 0;
	m->stop = 0;
	for (steps = 0; steps < FRAME_MAX_STEPS; steps++) {
		before = m->pos;
		phase = m->d.phase;
		if (model_step(m))
			break;
		check_state(m);
		/* a step that moves nothing changes the phase, and the next one moves */
		CHECK(m->pos > before || m->d.phase != phase || m->done, "a step made no progress");
	}
	if (steps == FRAME_MAX_STEPS && !m->stop && !m->done && m->pos < m->len) {
		m->too_many_steps = 1;
		m->done = 1;
	}
}

static void model_run(struct model *m, int response, const char *stream, __u32 len,
		      const __u32 *cuts, unsigned int ncuts, __u8 poison)
{
	__u32 from = 0;
	unsigned int i;

	memset(m, 0, offsetof(struct model, spans));
	m->response = response;
	memset(m->buf, poison, sizeof(m->buf));
	m->stream = stream;
	m->stream_len = len;
	for (i = 0; i <= ncuts && !m->done; i++) {
		__u32 to = i < ncuts ? cuts[i] : len;

		if (to > from)
			model_segment(m, stream + from, from, to - from);
		from = to;
	}
}

static __u32 rng_next(__u32 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int split_ok(const struct model *whole, __u32 c)
{
	unsigned int i;

	for (i = 0; i < whole->nspans; i++)
		if (c > whole->spans[i].from && c <= whole->spans[i].to)
			return 0;
	return 1;
}

static void describe(const struct model *m, const char *tag)
{
	unsigned int i;

	fprintf(stderr, "%s: %u events\n", tag, m->nev);
	for (i = 0; i < m->nev; i++)
		fprintf(stderr, "  kind %u method %u version %u truncated %u value %u path %.40s\n",
			m->ev[i].kind, m->ev[i].method, m->ev[i].version, m->ev[i].truncated,
			m->ev[i].value, m->ev[i].path);
}

static void compare(const struct model *whole, const struct model *split)
{
	unsigned int i;

	if (whole->too_many_steps || split->too_many_steps)
		return; /* out of steps: resynchronised later, where depends on the split */
	if (whole->nev >= MAX_EVENTS || split->nev >= MAX_EVENTS)
		return;
	if (whole->nev != split->nev) {
		describe(whole, "whole");
		describe(split, "split");
	}
	CHECK(whole->nev == split->nev, "%u events whole, %u split", whole->nev, split->nev);
	for (i = 0; i < whole->nev; i++) {
		if (memcmp(&whole->ev[i], &split->ev[i], sizeof(struct event))) {
			describe(whole, "whole");
			describe(split, "split");
		}
		CHECK(!memcmp(&whole->ev[i], &split->ev[i], sizeof(struct event)),
		      "event %u differs", i);
	}
}

/* The stream an input stands for; returns its length. */
static __u32 expand(const uint8_t *in, size_t n, char *out)
{
	__u32 len = 0;
	size_t i;

	for (i = 0; i < n && len < MAX_STREAM; i++) {
		if (in[i] == 0xff && i + 1 < n && len) {
			__u32 r = 32 * ((__u32)in[++i] + 1);

			if (r > MAX_STREAM - len)
				r = MAX_STREAM - len;
			memset(out + len, out[len - 1], r);
			len += r;
		} else {
			out[len++] = (char)in[i];
		}
	}
	return len;
}

static struct model whole, split;
static struct span spans[MAX_SPANS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	__u32 cuts[MAX_CHUNKS], ncuts = 0, len, seed, c, i;
	char *stream;
	int response;

	if (size < 5)
		return 0;
	response = data[0] & 1;
	seed = ((__u32)data[0] << 24 ^ (__u32)data[1] << 16 ^ (__u32)data[2] << 8 ^ data[3]) | 1;
	/* an exact-size copy, so a read past the stream is ASan's to see */
	stream = malloc(MAX_STREAM);
	if (!stream)
		return 0;
	len = expand(data + 4, size - 4, stream);
	stream = realloc(stream, len ? len : 1);
	if (!stream)
		return 0;

	whole.spans = spans;
	whole.nspans = 0;
	model_run(&whole, response, stream, len, NULL, 0, 0xa5);
	if (getenv("FUZZ_FRAME_PRINT"))
		describe(&whole, "whole"); /* to see what an input frames to */

	/* random split points among those supported, in order */
	if (len > 1) {
		__u32 want = 1 + rng_next(&seed) % (MAX_CHUNKS - 1);

		if (rng_next(&seed) % 4 == 0 && len <= MAX_CHUNKS) {
			/* every byte its own syscall */
			for (c = 1; c < len; c++)
				if (split_ok(&whole, c))
					cuts[ncuts++] = c;
		} else {
			for (i = 0; i < want; i++) {
				c = 1 + rng_next(&seed) % (len - 1);
				if (split_ok(&whole, c))
					cuts[ncuts++] = c;
			}
			/* sort and drop duplicates: few, so insertion sort */
			for (i = 1; i < ncuts; i++)
				for (c = i; c > 0 && cuts[c - 1] > cuts[c]; c--) {
					__u32 t = cuts[c];

					cuts[c] = cuts[c - 1];
					cuts[c - 1] = t;
				}
			for (i = 0, c = 0; i < ncuts; i++)
				if (!c || cuts[c - 1] != cuts[i])
					cuts[c++] = cuts[i];
			ncuts = c;
		}
	}
	split.spans = NULL;
	/* stale window bytes that would change a decision: line ends, spaces, digits */
	model_run(&split, response, stream, len, cuts, ncuts,
		  (__u8) "\n\r 0:"[rng_next(&seed) % 5]);
	compare(&whole, &split);
	free(stream);
	return 0;
}
