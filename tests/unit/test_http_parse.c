/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Host tests for include/http_parse.h, the parser the BPF program runs.
 * Every input is copied to a heap block of exactly its length, so a read past
 * len is caught by ASan or valgrind rather than landing in a string literal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "metrics/route.h"
#include "metrics/series.h"

#define FUZZ_ROUNDS 200000

struct req {
	int ret;
	struct http_request_info info;
	char path[OA_MAX_PATH];
};

static char *heap_copy(const char *s, size_t len)
{
	char *b = malloc(len ? len : 1);

	assert_non_null(b);
	memcpy(b, s, len);
	return b;
}

static struct req parse_n(const char *s, size_t len)
{
	struct req r;
	char *b = heap_copy(s, len);

	memset(&r, 0xAA, sizeof(r));
	r.ret = http_parse_request(b, len, &r.info, r.path);
	free(b);
	return r;
}

static struct req parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* path[] is a hash key in the kernel: everything after the NUL must be zero. */
static void assert_path(const struct req *r, const char *want)
{
	size_t i, n = strlen(want);

	assert_int_equal(r->ret, 0);
	assert_true(n < OA_MAX_PATH);
	assert_memory_equal(r->path, want, n);
	for (i = n; i < OA_MAX_PATH; i++)
		assert_int_equal(r->path[i], 0);
}

static void test_known_methods(void **state)
{
	static const struct {
		const char *token;
		__u8 method;
	} cases[] = {
		{ "GET", OA_METHOD_GET },	  { "HEAD", OA_METHOD_HEAD },
		{ "POST", OA_METHOD_POST },	  { "PUT", OA_METHOD_PUT },
		{ "DELETE", OA_METHOD_DELETE },	  { "CONNECT", OA_METHOD_CONNECT },
		{ "OPTIONS", OA_METHOD_OPTIONS }, { "TRACE", OA_METHOD_TRACE },
		{ "PATCH", OA_METHOD_PATCH },
	};
	char line[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req r;

		snprintf(line, sizeof(line), "%s /api/x HTTP/1.1\r\nHost: a\r\n\r\n",
			 cases[i].token);
		r = parse(line);
		assert_path(&r, "/api/x");
		assert_int_equal(r.info.method, cases[i].method);
		assert_int_equal(r.info.version, OA_HTTP_11);
		assert_int_equal(r.info.truncated, 0);
	}
}

static void test_unknown_methods(void **state)
{
	struct req r;

	(void)state;
	r = parse("PROPFIND /dav HTTP/1.1\r\n");
	assert_path(&r, "/dav");
	assert_int_equal(r.info.method, OA_METHOD_OTHER);
	assert_int_equal(r.info.version, OA_HTTP_11);

	/* Same length as a known method but a different token. */
	r = parse("GOT / HTTP/1.1\r\n");
	assert_path(&r, "/");
	assert_int_equal(r.info.method, OA_METHOD_OTHER);
	r = parse("DELETES / HTTP/1.1\r\n");
	assert_int_equal(r.info.method, OA_METHOD_OTHER);

	r = parse("M-SEARCH * HTTP/1.1\r\n");
	assert_path(&r, "*");
	assert_int_equal(r.info.method, OA_METHOD_OTHER);

	/* HTTP_MAX_METHOD characters is the longest token accepted. */
	r = parse("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n");
	assert_path(&r, "/");
	assert_int_equal(r.info.method, OA_METHOD_OTHER);
	r = parse("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n");
	assert_int_equal(r.ret, -1);
}

static void test_query_and_fragment_cut(void **state)
{
	struct req r;

	(void)state;
	r = parse("GET /search?q=a+b&x=%20 HTTP/1.1\r\n");
	assert_path(&r, "/search");
	assert_int_equal(r.info.version, OA_HTTP_11);

	r = parse("GET /page#section HTTP/1.0\r\n");
	assert_path(&r, "/page");
	assert_int_equal(r.info.version, OA_HTTP_10);

	r = parse("GET /a?b#c HTTP/1.1\r\n");
	assert_path(&r, "/a");

	r = parse("GET /?x HTTP/1.1\r\n");
	assert_path(&r, "/");
	assert_int_equal(r.info.version, OA_HTTP_11);
}

static void test_versions(void **state)
{
	struct req r;

	(void)state;
	r = parse("GET / HTTP/1.0\r\n");
	assert_path(&r, "/");
	assert_int_equal(r.info.version, OA_HTTP_10);

	r = parse("GET / HTTP/1.1\r\n");
	assert_int_equal(r.info.version, OA_HTTP_11);

	/* Exactly "HTTP/1.1" with nothing after it is enough. */
	r = parse("GET / HTTP/1.1");
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.info.version, OA_HTTP_11);

	/* An unknown minor version is still a request, with the version unknown. */
	r = parse("GET / HTTP/1.2\r\n");
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.info.version, 0);

	/* HTTP/0.9 style: no version at all. */
	r = parse("GET /old\r\n");
	assert_path(&r, "/old");
	assert_int_equal(r.info.version, 0);
}

static void test_options_star(void **state)
{
	struct req r;

	(void)state;
	r = parse("OPTIONS * HTTP/1.1\r\n\r\n");
	assert_path(&r, "*");
	assert_int_equal(r.info.method, OA_METHOD_OPTIONS);
	assert_int_equal(r.info.version, OA_HTTP_11);
}

static void fill_path_line(char *buf, size_t path_len, const char *tail)
{
	size_t i;

	strcpy(buf, "GET /");
	for (i = 1; i < path_len; i++)
		buf[4 + i] = 'a' + i % 26;
	buf[4 + path_len] = '\0';
	strcat(buf, tail);
}

static void test_path_longer_than_max(void **state)
{
	size_t lens[] = { OA_MAX_PATH, OA_MAX_PATH + 1, 200 };
	char buf[HTTP_WINDOW];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct req r;

		fill_path_line(buf, lens[i], " HTTP/1.1\r\n");
		r = parse(buf);
		assert_int_equal(r.ret, 0);
		assert_int_equal(r.info.truncated, 1);
		assert_int_equal(r.path[OA_MAX_PATH - 1], 0);
		assert_memory_equal(r.path, buf + 4, OA_MAX_PATH - 1);
		/* The version after a truncated path is still found. */
		assert_int_equal(r.info.version, OA_HTTP_11);
	}
}

/* OA_MAX_PATH - 1 bytes fit with their NUL: the boundary of the truncated flag. */
static void test_path_exact_fit(void **state)
{
	char buf[HTTP_WINDOW], want[OA_MAX_PATH];
	struct req r;

	(void)state;
	fill_path_line(buf, OA_MAX_PATH - 1, " HTTP/1.1\r\n");
	memcpy(want, buf + 4, OA_MAX_PATH - 1);
	want[OA_MAX_PATH - 1] = '\0';
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.version, OA_HTTP_11);
	assert_int_equal(r.info.truncated, 0);

	fill_path_line(buf, OA_MAX_PATH - 2, " HTTP/1.1\r\n");
	r = parse(buf);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.info.truncated, 0);
	assert_int_equal(strlen(r.path), OA_MAX_PATH - 2);
}

static void test_line_cut_by_window(void **state)
{
	char buf[HTTP_WINDOW + 64];
	struct req r;
	size_t i;

	(void)state;
	/* The write ended inside the version: still a request, version unknown. */
	r = parse("GET /abc HTTP/1.");
	assert_path(&r, "/abc");
	assert_int_equal(r.info.version, 0);
	assert_int_equal(r.info.truncated, 0);

	r = parse("GET /abc ");
	assert_path(&r, "/abc");
	assert_int_equal(r.info.version, 0);

	/* A write that ends inside a short path: the path fit, so not truncated. */
	r = parse("GET /abc");
	assert_path(&r, "/abc");
	assert_int_equal(r.info.version, 0);
	assert_int_equal(r.info.truncated, 0);

	/* A long query pushes the version past HTTP_WINDOW; len beyond it is clamped. */
	strcpy(buf, "GET /q?");
	for (i = strlen(buf); i < sizeof(buf) - 12; i++)
		buf[i] = 'x';
	strcpy(buf + i, " HTTP/1.1\r\n");
	r = parse_n(buf, HTTP_WINDOW);
	assert_path(&r, "/q");
	assert_int_equal(r.info.version, 0);
	r = parse(buf);
	assert_path(&r, "/q");
	assert_int_equal(r.info.version, 0);

	/* The version ending exactly at the window end is still read. */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "GET /q?");
	for (i = strlen(buf); i < HTTP_WINDOW - 9; i++)
		buf[i] = 'x';
	memcpy(buf + i, " HTTP/1.1", 9);
	r = parse_n(buf, HTTP_WINDOW);
	assert_path(&r, "/q");
	assert_int_equal(r.info.version, OA_HTTP_11);
}

static void test_rejects(void **state)
{
	static const char tls[] = {
		0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03
	};
	static const char garbage[] = { 0x00, 0xff, 0x13, 0x37, ' ', '/', 0x80, 0x7f };
	static const char *const lines[] = {
		"get / HTTP/1.1\r\n",
		"Get / HTTP/1.1\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"GET",
		"GET ",
		"GET http://x/ HTTP/1.1\r\n",
		"GET x HTTP/1.1\r\n",
		"GET  / HTTP/1.1\r\n",
		" GET / HTTP/1.1\r\n",
		"GET\t/ HTTP/1.1\r\n",
		"GET /a\x01"
		"b HTTP/1.1\r\n",
		"GET /a\tb HTTP/1.1\r\n",
		"GET /a\x7f HTTP/1.1\r\n",
		"GET /caf\xc3\xa9 HTTP/1.1\r\n",
		"GET / FTP/1.1\r\n",
		"GET / http/1.1\r\n",
		"HTTP/1.1 200 OK\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
	};
	struct req r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		r = parse(lines[i]);
		if (r.ret != -1)
			fail_msg("accepted: case %zu", i);
	}
	assert_int_equal(parse_n(tls, sizeof(tls)).ret, -1);
	assert_int_equal(parse_n(garbage, sizeof(garbage)).ret, -1);
	assert_int_equal(parse_n("", 0).ret, -1);
	/* A NUL inside the path is a control byte too. */
	assert_int_equal(parse_n("GET /a\0b HTTP/1.1", 17).ret, -1);
}

static int status_n(const char *s, size_t len, __u8 *version)
{
	char *b = heap_copy(s, len);
	int st = http_parse_status(b, len, version);

	free(b);
	return st;
}

static int status(const char *s, __u8 *version)
{
	return status_n(s, strlen(s), version);
}

static void test_status_lines(void **state)
{
	__u8 v = 0;

	(void)state;
	assert_int_equal(status("HTTP/1.1 200 OK\r\n", &v), 200);
	assert_int_equal(v, OA_HTTP_11);
	assert_int_equal(status("HTTP/1.1 404 Not Found\r\n", &v), 404);
	assert_int_equal(status("HTTP/1.1 500 Internal Server Error\r\n", &v), 500);
	assert_int_equal(status("HTTP/1.1 599 x\r\n", &v), 599);
	assert_int_equal(status("HTTP/1.1 100 Continue\r\n", &v), 100);
	v = 0;
	assert_int_equal(status("HTTP/1.0 200 OK\r\n", &v), 200);
	assert_int_equal(v, OA_HTTP_10);
	assert_int_equal(status("HTTP/1.1 204\r\n", &v), 204);
	assert_int_equal(v, OA_HTTP_11);
	assert_int_equal(status("HTTP/1.1 302\n", &v), 302);
	/* The write may end right after the code. */
	assert_int_equal(status("HTTP/1.1 204", &v), 204);
}

static void test_status_rejects(void **state)
{
	static const char *const lines[] = {
		"HTTP/2 200\r\n",      "HTTP/1.1 20",	     "HTTP/1.1 20\r\n",
		"HTTP/1.1 600 X\r\n",  "HTTP/1.1 2000\r\n",  "HTTP/1.1 099 X\r\n",
		"HTTP/1.1 2x0 X\r\n",  "HTTP/1.1  200\r\n",  "HTTP/1.2 200 OK\r\n",
		"http/1.1 200 OK\r\n", "HTTP/1.1 200OK\r\n", "GET / HTTP/1.1\r\n",
		"HTTP/1.1-200 OK\r\n",
	};
	const char *full = "HTTP/1.1 200 OK";
	__u8 v = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (status(lines[i], &v) != 0)
			fail_msg("accepted: %s", lines[i]);
	for (i = 0; i < 12; i++)
		assert_int_equal(status_n(full, i, &v), 0);
}

/* Fixed-seed LCG (Knuth's MMIX constants): the same inputs on every run. */
static __u32 lcg(__u64 *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (__u32)(*x >> 33);
}

/* Bytes that steer the parser into its branches, plus anything at all. */
static char fuzz_byte(__u64 *x)
{
	static const char steer[] = "/aZ09-_.?# \r\nHTTP/1.0152";
	__u32 r = lcg(x);

	if (r % 4 == 0)
		return (char)(r >> 8);
	return steer[(r >> 8) % (sizeof(steer) - 1)];
}

static void fill_fuzz(char *b, size_t len, __u64 *x)
{
	static const char version[] = " HTTP/1.1\r\n";
	__u32 kind = lcg(x) % 4;
	/* Half look like requests, a quarter like status lines, the rest anything. */
	const char *prefix = kind < 2 ? "GET /" : kind == 2 ? "HTTP/1.1 " : "";
	size_t i = 0;

	for (; i < len && prefix[i]; i++)
		b[i] = prefix[i];
	while (i < len) {
		if (lcg(x) % 64 == 0) {
			size_t k;

			for (k = 0; k < sizeof(version) - 1 && i < len; k++)
				b[i++] = version[k];
		} else {
			b[i++] = fuzz_byte(x);
		}
	}
}

/*
 * The parser's contract, written the plain way: each '/'-delimited segment
 * of the raw path that user space calls an id (route_is_id) becomes "{id}",
 * and what does not fit in OA_MAX_PATH - 1 bytes is lost and reported. A
 * cut never splits "{id}": a placeholder that does not fit is left out
 * whole. Returns whether bytes were lost (the truncated flag).
 */
static int expected_path(const char *raw, size_t len, char *want)
{
	const size_t max = OA_MAX_PATH - 1;
	size_t i = 0, o = 0;

	memset(want, 0, OA_MAX_PATH);
	while (i < len) {
		size_t n = 1;
		const char *piece = raw + i;
		int id = 0;

		while (raw[i] != '/' && i + n < len && raw[i + n] != '/')
			n++;
		if (raw[i] != '/' && route_is_id(raw + i, n)) {
			piece = ROUTE_ID;
			id = 1;
		}
		if (o + (id ? strlen(ROUTE_ID) : n) > max) {
			if (!id)
				memcpy(want + o, piece, max - o);
			return 1;
		}
		memcpy(want + o, piece, id ? strlen(ROUTE_ID) : n);
		o += id ? strlen(ROUTE_ID) : n;
		i += n;
	}
	return 0;
}

/* A request line whose path ended is parsed to what expected_path says. */
static void check_path_against_route(const struct http_request_info *info, const char *path,
				     const char *raw, const char *end)
{
	char want[OA_MAX_PATH];
	size_t n = 0;
	int truncated;

	while (raw + n < end && !strchr("?# \r\n", raw[n]))
		n++;
	if (raw + n == end)
		return; /* cut by the window: the last segment has not ended */
	truncated = expected_path(raw, n, want);
	assert_memory_equal(path, want, OA_MAX_PATH);
	assert_int_equal(info->truncated, truncated);
}

/*
 * Expanding an id near the limit: "/" + 121 x + "/1/" is 125 raw bytes but
 * 128 once "1" is "{id}". The kept path must still end in a NUL, and the
 * '/' that no longer fits is reported as lost.
 */
static void test_id_expansion_at_the_limit(void **state)
{
	char buf[HTTP_WINDOW], want[OA_MAX_PATH];
	struct req r;

	(void)state;
	memset(want, 0, sizeof(want));
	want[0] = '/';
	memset(want + 1, 'x', 121);
	strcpy(buf, "GET ");
	strcat(buf, want);
	strcat(buf, "/1/ HTTP/1.1\r\n");
	strcat(want, "/{id}");
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(strlen(r.path), OA_MAX_PATH - 1);
	assert_int_equal(r.info.truncated, 1);
	assert_int_equal(r.info.version, OA_HTTP_11);

	/* "{id}" that does not fit is left out whole, never cut to "{i" nor kept raw. */
	buf[4 + 1 + 121] = 'x';
	buf[4 + 1 + 121 + 1] = 'x';
	strcpy(buf + 4 + 1 + 123, "/5 HTTP/1.1\r\n");
	memset(want, 0, sizeof(want));
	want[0] = '/';
	memset(want + 1, 'x', 123);
	want[124] = '/';
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.truncated, 1);
}

/*
 * An id that crosses the limit is still an id: the parser reads the whole
 * segment before it decides, so a UUID near the end becomes "{id}" and
 * nothing was lost.
 */
static void test_id_past_the_limit_collapsed(void **state)
{
	static const char uuid[] = "123e4567-e89b-12d3-a456-426614174000";
	char buf[HTTP_WINDOW], want[OA_MAX_PATH];
	struct req r;

	(void)state;
	memset(want, 0, sizeof(want));
	want[0] = '/';
	memset(want + 1, 'x', 95);
	snprintf(buf, sizeof(buf), "GET %s/%s/orders?x=1 HTTP/1.1\r\n", want, uuid);
	strcat(want, "/{id}/orders");
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.truncated, 0);
	assert_int_equal(r.info.version, OA_HTTP_11);

	/* A long number that starts before the limit and ends after it. */
	memset(want + 1, 'x', 95);
	strcpy(want + 96, "/");
	memset(buf, '7', sizeof(buf));
	memcpy(buf, "GET ", 4);
	memcpy(buf + 4, want, 97);
	strcpy(buf + 4 + 97 + 60, " HTTP/1.1\r\n");
	strcat(want, "{id}");
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.truncated, 0);

	/* The same line ended by its CRLF (no version), where the parser stays in the path. */
	strcpy(buf + 4 + 97 + 60, "\r\n");
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.truncated, 0);
	strcpy(buf + 4 + 97 + 60, " HTTP/1.1\r\n");

	/* A word cut at the limit stays cut, and is reported. */
	memset(buf + 4 + 97, 'w', 60);
	memset(want + 97, 'w', OA_MAX_PATH - 1 - 97);
	r = parse(buf);
	assert_path(&r, want);
	assert_int_equal(r.info.truncated, 1);
}

/*
 * A segment is delimited by '/': the asterisk-form "*123" has no id segment,
 * for the kernel as for route.c.
 */
static void test_star_is_not_an_id(void **state)
{
	char out[OA_MAX_ROUTE];
	struct req r;

	(void)state;
	r = parse("OPTIONS *123 HTTP/1.1\r\n");
	assert_path(&r, "*123");
	route_heuristic(r.path, out, sizeof(out));
	assert_string_equal(out, r.path);

	r = parse("OPTIONS */123 HTTP/1.1\r\n");
	assert_path(&r, "*/{id}");
	route_heuristic(r.path, out, sizeof(out));
	assert_string_equal(out, r.path);
}

static void test_ids_collapsed(void **state)
{
	static const struct {
		const char *line, *path;
	} cases[] = {
		{ "GET /users/42 HTTP/1.1\r\n", "/users/{id}" },
		{ "GET /users/42/orders/7?x=1 HTTP/1.1\r\n", "/users/{id}/orders/{id}" },
		{ "GET /7 HTTP/1.1\r\n", "/{id}" },
		{ "GET /users/42/ HTTP/1.1\r\n", "/users/{id}/" },
		{ "GET /o/123e4567-e89b-12d3-a456-426614174000 HTTP/1.1\r\n", "/o/{id}" },
		{ "GET /o/123E4567-E89B-12D3-A456-426614174000/x HTTP/1.1\r\n", "/o/{id}/x" },
		{ "GET /blob/deadbeefdeadbee1 HTTP/1.1\r\n", "/blob/{id}" },
		{ "GET /blob/deadbeefdeadbeef HTTP/1.1\r\n", "/blob/deadbeefdeadbeef" },
		{ "GET /blob/deadbeef1 HTTP/1.1\r\n", "/blob/deadbeef1" },
		{ "GET /api/v1/hello.world HTTP/1.1\r\n", "/api/v1/hello.world" },
		{ "GET /cafe/12a HTTP/1.1\r\n", "/cafe/12a" },
		{ "GET /a/123e4567-e89b-12d3-a456-42661417400 HTTP/1.1\r\n",
		  "/a/123e4567-e89b-12d3-a456-42661417400" },
		{ "GET /1/2/3#frag HTTP/1.1\r\n", "/{id}/{id}/{id}" },
	};
	char path[OA_MAX_PATH];
	struct http_request_info info;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(path, 0xAA, sizeof(path));
		assert_int_equal(
			http_parse_request(cases[i].line, strlen(cases[i].line), &info, path), 0);
		assert_string_equal(path, cases[i].path);
		/* the bytes an id left behind are zero, so the path is a clean map key */
		for (size_t k = strlen(cases[i].path); k < OA_MAX_PATH; k++)
			assert_int_equal(path[k], 0);
	}
}

static void test_fuzz(void **state)
{
	__u64 x = 0x6f74656c2d616721ULL;
	unsigned int accepted = 0, versioned = 0, statuses = 0;
	char *path = malloc(OA_MAX_PATH);
	unsigned int n;

	(void)state;
	assert_non_null(path);
	for (n = 0; n < FUZZ_ROUNDS; n++) {
		size_t len = lcg(&x) % (HTTP_WINDOW + 1), plen, i;
		char *b = malloc(len ? len : 1);
		struct http_request_info info;
		__u8 v = 0;
		int ret, st;

		assert_non_null(b);
		fill_fuzz(b, len, &x);
		memset(path, 0xAA, OA_MAX_PATH);
		ret = http_parse_request(b, len, &info, path);
		if (ret != 0 && ret != -1)
			fail_msg("round %u: returned %d", n, ret);
		if (ret == 0) {
			const char *nul = memchr(path, 0, OA_MAX_PATH);

			if (!nul)
				fail_msg("round %u: path not NUL-terminated", n);
			plen = nul - path;
			assert_true(plen > 0 && plen < OA_MAX_PATH);
			assert_true(info.method < OA_METHOD_COUNT);
			assert_true(info.version == 0 || info.version == OA_HTTP_10 ||
				    info.version == OA_HTTP_11);
			/* The path is the bytes after the method's space, ids collapsed. */
			assert_non_null(memchr(b, ' ', len));
			check_path_against_route(&info, path, (char *)memchr(b, ' ', len) + 1,
						 b + len);
			for (i = plen; i < OA_MAX_PATH; i++)
				assert_int_equal(path[i], 0);
			accepted++;
			versioned += info.version != 0;
		}
		st = http_parse_status(b, len, &v);
		if (st != 0 && (st < 100 || st > 599))
			fail_msg("round %u: status %d", n, st);
		statuses += st != 0;
		free(b);
	}
	free(path);
	/* Make sure the fuzz reached the success paths, not only the rejects. */
	assert_true(accepted > FUZZ_ROUNDS / 100);
	assert_true(versioned > 0);
	assert_true(statuses > 0);
	print_message("# fuzz: %u accepted, %u with a version, %u status lines\n", accepted,
		      versioned, statuses);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_methods),
		cmocka_unit_test(test_unknown_methods),
		cmocka_unit_test(test_query_and_fragment_cut),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_options_star),
		cmocka_unit_test(test_path_longer_than_max),
		cmocka_unit_test(test_path_exact_fit),
		cmocka_unit_test(test_line_cut_by_window),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_status_rejects),
		cmocka_unit_test(test_ids_collapsed),
		cmocka_unit_test(test_id_expansion_at_the_limit),
		cmocka_unit_test(test_id_past_the_limit_collapsed),
		cmocka_unit_test(test_star_is_not_an_id),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
