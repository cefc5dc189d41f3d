/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1.x request-line and status-line recognition on a bounded byte
 * window. Compiled into the BPF program (bpf/http.bpf.c) and into the host
 * unit tests (tests/unit/test_http_parse.c), so the parser the kernel runs is
 * the parser the tests exercise. Every loop is bounded by a compile-time
 * constant and every index is masked, so the verifier accepts it as is.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include "otel_agent.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Bytes of a read or write examined; a power of two so indexes can be masked. */
#define HTTP_WINDOW	 256
#define HTTP_WINDOW_MASK (HTTP_WINDOW - 1)
/* "HTTP/1.1 200": the bytes a status line needs before its reason phrase. */
#define HTTP_STATUS_LINE_MIN 12
/* Longest method token accepted ("_OTHER" methods included). */
#define HTTP_MAX_METHOD 16

struct http_request_info {
	__u8 method;	/* enum oa_method */
	__u8 version;	/* OA_HTTP_10 / OA_HTTP_11, 0 if the line ended outside the window */
	__u8 truncated; /* bytes of the path were lost: it did not fit in OA_MAX_PATH - 1 */
};

static __always_inline int http_is_tchar_upper(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

static __always_inline __u8 http_method_from_token(const char *t, __u32 n)
{
	switch (n) {
	case 3:
		if (t[0] == 'G' && t[1] == 'E' && t[2] == 'T')
			return OA_METHOD_GET;
		if (t[0] == 'P' && t[1] == 'U' && t[2] == 'T')
			return OA_METHOD_PUT;
		break;
	case 4:
		if (t[0] == 'P' && t[1] == 'O' && t[2] == 'S' && t[3] == 'T')
			return OA_METHOD_POST;
		if (t[0] == 'H' && t[1] == 'E' && t[2] == 'A' && t[3] == 'D')
			return OA_METHOD_HEAD;
		break;
	case 5:
		if (t[0] == 'P' && t[1] == 'A' && t[2] == 'T' && t[3] == 'C' && t[4] == 'H')
			return OA_METHOD_PATCH;
		if (t[0] == 'T' && t[1] == 'R' && t[2] == 'A' && t[3] == 'C' && t[4] == 'E')
			return OA_METHOD_TRACE;
		break;
	case 6:
		if (t[0] == 'D' && t[1] == 'E' && t[2] == 'L' && t[3] == 'E' && t[4] == 'T' &&
		    t[5] == 'E')
			return OA_METHOD_DELETE;
		break;
	case 7:
		if (t[0] == 'O' && t[1] == 'P' && t[2] == 'T' && t[3] == 'I' && t[4] == 'O' &&
		    t[5] == 'N' && t[6] == 'S')
			return OA_METHOD_OPTIONS;
		if (t[0] == 'C' && t[1] == 'O' && t[2] == 'N' && t[3] == 'N' && t[4] == 'E' &&
		    t[5] == 'C' && t[6] == 'T')
			return OA_METHOD_CONNECT;
		break;
	}
	return OA_METHOD_OTHER;
}

/*
 * The request line is recognised one byte at a time by a small state
 * machine, so the kernel can drive it with bpf_loop() (verified once, not
 * per iteration) and the host with a plain loop.
 */
enum http_req_state {
	HTTP_REQ_METHOD,
	HTTP_REQ_TARGET, /* first byte of the request target */
	HTTP_REQ_PATH,
	HTTP_REQ_QUERY, /* after '?' or '#', up to the space before the version */
	HTTP_REQ_VERSION,
};

/*
 * The id rule, in one place: user space (route_is_id in src/metrics/route.c)
 * classifies a segment by feeding its bytes through the same functions.
 * A segment is the bytes between two '/' (the asterisk-form "*..." is one
 * segment): all decimal digits, a UUID (8-4-4-4-12 hex), or a hex string of
 * HTTP_MIN_HEX_ID or more characters with a decimal digit is an id.
 */
#define SEG_DIGITS    0x01 /* only decimal digits */
#define SEG_HEX	      0x02 /* only hex digits */
#define SEG_HAS_DIGIT 0x04 /* at least one decimal digit */
#define SEG_UUID      0x08 /* hex with '-' exactly at 8, 13, 18, 23 */
#define SEG_CUT	      0x10 /* bytes of it did not fit in path[] */
#define SEG_ALL	      (SEG_DIGITS | SEG_HEX | SEG_UUID)

/* Hex strings at least this long (with a digit) are ids; shorter ones are too often words. */
#define HTTP_MIN_HEX_ID 16
#define HTTP_UUID_LEN	36
/* The placeholder an id segment becomes, in the kernel already. */
#define HTTP_ID	    "{id}"
#define HTTP_ID_LEN 4

/* The path segment being read. */
struct http_seg {
	__u16 start; /* path index of its first byte */
	__u8 len;    /* its length, saturating at 255 (every length the rule tests is below) */
	__u8 flags;  /* SEG_* */
};

struct http_req_parser {
	__u8 state;
	__u8 mlen;
	__u8 vlen;
	__u8 truncated; /* bytes of the path are lost for good */
	__u16 plen;
	struct http_seg seg;
	char method[HTTP_MAX_METHOD];
	char version[8];
	/*
	 * path[] bytes up to here may be left over from an id segment that
	 * "{id}" replaced: zeroed past plen once, when the line ends
	 * (http_path_settle), not at each segment's end, where a loop would
	 * sit inside the byte loop the BPF verifier walks.
	 */
	__u8 dirty;
};

/* OA_MAX_PATH must be a power of two: path indexes are masked with it. */
#define HTTP_PATH_MASK (OA_MAX_PATH - 1)

static __always_inline int http_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static __always_inline int http_is_hex(char c)
{
	return http_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static __always_inline void http_seg_begin(struct http_seg *s, __u16 start)
{
	s->start = start;
	s->len = 0;
	s->flags = SEG_ALL;
}

static __always_inline void http_seg_byte(struct http_seg *s, char c)
{
	__u8 n = s->len;

	if (!http_is_digit(c))
		s->flags &= ~SEG_DIGITS;
	else
		s->flags |= SEG_HAS_DIGIT;
	if (!http_is_hex(c))
		s->flags &= ~SEG_HEX;
	if ((n == 8 || n == 13 || n == 18 || n == 23) ? c != '-' : !http_is_hex(c))
		s->flags &= ~SEG_UUID;
	if (n < 255)
		s->len = n + 1;
}

static __always_inline int http_seg_is_id(const struct http_seg *s)
{
	__u32 n = s->len;
	__u8 f = s->flags;

	return n && ((f & SEG_DIGITS) ||
		     ((f & SEG_HEX) && (f & SEG_HAS_DIGIT) && n >= HTTP_MIN_HEX_ID) ||
		     ((f & SEG_UUID) && n == HTTP_UUID_LEN));
}

/*
 * A path segment ended: an id becomes "{id}" right here, so raw ids never
 * become kernel series keys (each would be a series of its own). The whole
 * segment was seen even where its bytes no longer fitted, so an id that
 * crosses the limit still collapses and nothing is lost. A "{id}" that does
 * not fit is left out whole, and a cut segment that is not an id stays cut:
 * both lose bytes for good. The bytes left behind are zeroed.
 */
static __always_inline void http_segment_end(struct http_req_parser *p, char *path)
{
	__u32 start = p->seg.start, end;
	__u8 cut = p->seg.flags & SEG_CUT;

	/* from here its lost bytes are either won back by "{id}" or lost for good */
	p->seg.flags &= ~SEG_CUT;
	if (p->truncated)
		return;
	if (!http_seg_is_id(&p->seg)) {
		if (cut)
			p->truncated = 1;
		return;
	}
	if (start + HTTP_ID_LEN > OA_MAX_PATH - 1) {
		end = start;
		p->truncated = 1;
	} else {
		path[start & HTTP_PATH_MASK] = '{';
		path[(start + 1) & HTTP_PATH_MASK] = 'i';
		path[(start + 2) & HTTP_PATH_MASK] = 'd';
		path[(start + 3) & HTTP_PATH_MASK] = '}';
		end = start + HTTP_ID_LEN;
	}
	if (p->plen > p->dirty)
		p->dirty = (__u8)(p->plen < OA_MAX_PATH ? p->plen : OA_MAX_PATH);
	p->plen = end;
}

/*
 * i & HTTP_PATH_MASK in a way clang keeps: it drops a mask it can prove
 * redundant, and older verifiers (6.1) then cannot bound the store.
 */
#ifdef __bpf__
#define HTTP_PATH_INDEX(i)                                                              \
	({                                                                              \
		__u32 __i = (i);                                                        \
		asm volatile("%[x] &= %[m]" : [x] "+r"(__i) : [m] "i"(HTTP_PATH_MASK)); \
		__i;                                                                    \
	})
#else
#define HTTP_PATH_INDEX(i) ((i)&HTTP_PATH_MASK)
#endif

/*
 * Zeroes what id segments left in path[] past its end, so that path[] is a
 * key: called once the line has ended, before it is used.
 */
static __always_inline void http_path_settle(struct http_req_parser *p, char *path)
{
	__u32 from = p->plen, k;

	for (k = 0; k < OA_MAX_PATH; k++) {
		__u32 i = from + k;

		if (i >= p->dirty || i >= OA_MAX_PATH)
			break;
		path[HTTP_PATH_INDEX(i)] = 0;
	}
	p->dirty = 0;
}

/* Keeps a path byte if it fits; only the end of its segment says whether its loss counts. */
static __always_inline void http_path_put(struct http_req_parser *p, char *path, char c)
{
	if (p->truncated || p->plen >= OA_MAX_PATH - 1) {
		p->seg.flags |= SEG_CUT;
		return;
	}
	path[p->plen & HTTP_PATH_MASK] = c;
	p->plen++;
}

/*
 * Feeds one byte. path[] must be zeroed by the caller beforehand. Returns
 * 0 to go on, 1 when the line is complete (a request line), -1 when the
 * bytes are not a request line. The path kept is the raw path with each id
 * segment "{id}", cut to OA_MAX_PATH - 1 bytes; truncated says the cut lost
 * bytes.
 */
static __always_inline int http_request_step(struct http_req_parser *p, char *path, char c)
{
	switch (p->state) {
	case HTTP_REQ_METHOD:
		if (c == ' ') {
			if (!p->mlen)
				return -1;
			p->state = HTTP_REQ_TARGET;
			return 0;
		}
		if (!http_is_tchar_upper(c) || p->mlen >= HTTP_MAX_METHOD)
			return -1;
		p->method[p->mlen & (HTTP_MAX_METHOD - 1)] = c;
		p->mlen++;
		return 0;
	case HTTP_REQ_TARGET:
		/* origin-form or "OPTIONS *"; absolute-form (proxies) is not a server's request */
		if (c != '/' && c != '*')
			return -1;
		p->state = HTTP_REQ_PATH;
		path[0] = c;
		p->plen = 1;
		/* '*' is the first byte of a segment, as route.c splits the path */
		http_seg_begin(&p->seg, c == '/');
		if (c != '/')
			http_seg_byte(&p->seg, c);
		return 0;
	case HTTP_REQ_PATH:
		if (c != '/' && c != '?' && c != '#' && c != ' ' && c != '\r' && c != '\n') {
			if (c < 0x21 || c > 0x7e)
				return -1; /* control or non-ASCII byte: not a request target */
			http_path_put(p, path, c);
			http_seg_byte(&p->seg, c);
			return 0;
		}
		http_segment_end(p, path);
		if (c == '/') {
			if (!p->truncated && p->plen >= OA_MAX_PATH - 1)
				p->truncated = 1;
			http_path_put(p, path, c);
			http_seg_begin(&p->seg, p->plen);
			return 0;
		}
		if (c == '?' || c == '#') {
			p->state = HTTP_REQ_QUERY;
			return 0;
		}
		if (c == ' ') {
			p->state = HTTP_REQ_VERSION;
			return 0;
		}
		return 1; /* HTTP/0.9 style: no version */
	case HTTP_REQ_QUERY:
		if (c == ' ')
			p->state = HTTP_REQ_VERSION;
		else if (c == '\r' || c == '\n')
			return 1;
		return 0;
	case HTTP_REQ_VERSION:
		if (p->vlen >= 8)
			return 1;
		p->version[p->vlen & 7] = c;
		p->vlen++;
		return 0;
	}
	return -1;
}

/*
 * Ends the line (or the window): returns 0 and fills info for a request
 * line, -1 otherwise. A line cut by the window is a request line with an
 * unknown version when its path began.
 */
static __always_inline int http_request_finish(const struct http_req_parser *p,
					       struct http_request_info *info)
{
	const char *v = p->version;

	if (p->state == HTTP_REQ_METHOD || p->state == HTTP_REQ_TARGET)
		return -1;
	info->method = http_method_from_token(p->method, p->mlen);
	/* a line cut inside a segment that lost bytes: the segment never ended, they are lost */
	info->truncated = p->truncated || (p->state == HTTP_REQ_PATH && (p->seg.flags & SEG_CUT));
	info->version = 0;
	if (p->state != HTTP_REQ_VERSION || p->vlen < 8)
		return 0;
	if (v[0] != 'H' || v[1] != 'T' || v[2] != 'T' || v[3] != 'P' || v[4] != '/' ||
	    v[5] != '1' || v[6] != '.')
		return -1; /* something after the target that is not a version */
	if (v[7] == '0')
		info->version = OA_HTTP_10;
	else if (v[7] == '1')
		info->version = OA_HTTP_11;
	return 0;
}

/*
 * Ends a request line that goes on past what is read of it (the kernel's
 * HTTP_MAX_LINE): a request line if its path began after a known method,
 * with the path cut there (truncated when the cut is inside the path) and
 * no version. Returns 0 and fills info, or -1 when the bytes are not taken
 * for a request line: an unknown method on a line this long is more likely
 * another protocol.
 */
static __always_inline int http_request_cut(struct http_req_parser *p,
					    struct http_request_info *info)
{
	if (p->state == HTTP_REQ_PATH)
		p->truncated = 1;
	if (p->state == HTTP_REQ_VERSION)
		return -1; /* a version is at most 8 bytes: the line has ended by then */
	if (http_request_finish(p, info) || info->method == OA_METHOD_OTHER)
		return -1;
	info->version = 0;
	return 0;
}

/*
 * Recognise "METHOD SP /path[?query] SP HTTP/1.x" at the start of buf.
 * len is the number of valid bytes (at most HTTP_WINDOW). The path, cut at
 * '?' or '#', is written to path[] (OA_MAX_PATH bytes) and the rest of
 * path[] is zeroed, so it can be used as a hash key directly. Returns 0 for
 * a request line, -1 for anything else. The BPF side drives the same steps
 * with bpf_loop().
 */
static __always_inline int http_parse_request(const char *buf, __u32 len,
					      struct http_request_info *info, char *path)
{
	struct http_req_parser p = { 0 };
	__u32 i;

	for (i = 0; i < OA_MAX_PATH; i++)
		path[i] = 0;
	if (len > HTTP_WINDOW)
		len = HTTP_WINDOW;
	for (i = 0; i < len; i++) {
		int r = http_request_step(&p, path, buf[i]);

		if (r < 0)
			return -1;
		if (r > 0)
			break;
	}
	http_path_settle(&p, path);
	return http_request_finish(&p, info);
}

/*
 * Recognise "HTTP/1.x SP DDD" at the start of buf. Returns the status code
 * (100..599) and sets *version, or returns 0 for anything else.
 */
static __always_inline int http_parse_status(const char *buf, __u32 len, __u8 *version)
{
	int status;

	if (len < HTTP_STATUS_LINE_MIN)
		return 0;
	if (buf[0] != 'H' || buf[1] != 'T' || buf[2] != 'T' || buf[3] != 'P' || buf[4] != '/' ||
	    buf[5] != '1' || buf[6] != '.' || buf[8] != ' ')
		return 0;
	if (buf[7] == '0')
		*version = OA_HTTP_10;
	else if (buf[7] == '1')
		*version = OA_HTTP_11;
	else
		return 0;
	if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
	    buf[11] > '9')
		return 0;
	/* The reason phrase may be empty, but the code must end there. */
	if (len > HTTP_STATUS_LINE_MIN && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return 0;
	status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	return status;
}

#endif /* HTTP_PARSE_H */
