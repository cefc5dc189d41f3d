/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Host tests for include/http_frame.h, the framing decisions the BPF
 * program takes on a window of bytes: a long request line is a request cut
 * at HTTP_MAX_LINE, header lines are read only as far as their bytes
 * arrived. tests/fuzz/fuzz_frame.c drives the same functions over split
 * streams.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http_frame.h"

/* A window as the kernel's scratch has it: 16 readable bytes after it. */
struct window {
	char buf[HTTP_WINDOW + 16];
};

struct line {
	struct http_req_parser p;
	char path[OA_MAX_PATH];
	struct http_request_info info;
	__u32 line_len, fed;
	int outcome;
};

/* Feeds s to a fresh parser as the kernel does: windows of LINE_BYTES, capped at the limit. */
static void feed(struct line *l, const char *s, size_t len)
{
	struct window w;
	size_t pos = 0;

	memset(l, 0, sizeof(*l));
	while (pos < len && l->outcome == LINE_GO_ON) {
		__u32 avail = len - pos < HTTP_WINDOW ? len - pos : HTTP_WINDOW;
		int r;

		memset(w.buf, 0xa5, sizeof(w.buf));
		memcpy(w.buf, s + pos, avail);
		r = http_feed_line(&l->p, l->path, w.buf, 0, http_line_room(l->line_len, avail));
		assert_true((r & LINE_COUNT_MASK) >= 1);
		pos += r & LINE_COUNT_MASK;
		l->line_len += r & LINE_COUNT_MASK;
		l->outcome = http_line_outcome(&l->p, l->path, r, l->line_len, &l->info);
	}
	l->fed = pos;
}

static char *long_line(const char *head, char fill, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	assert_non_null(s);
	memcpy(s, head, h);
	memset(s + h, fill, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void test_long_path_is_a_cut_request(void **state)
{
	char *s = long_line("GET /", 'a', 70000, " HTTP/1.1\r\n");
	struct line l;

	(void)state;
	feed(&l, s, strlen(s));
	assert_int_equal(l.outcome, LINE_CUT);
	assert_int_equal(l.fed, HTTP_MAX_LINE);
	assert_int_equal(l.info.method, OA_METHOD_GET);
	assert_int_equal(l.info.version, 0);
	assert_int_equal(l.info.truncated, 1);
	assert_int_equal(strlen(l.path), OA_MAX_PATH - 1);
	assert_memory_equal(l.path, s + 4, OA_MAX_PATH - 1);
	free(s);
}

static void test_long_query_keeps_the_path(void **state)
{
	char *s = long_line("POST /items?q=", 'x', 5000, " HTTP/1.1\r\n");
	struct line l;

	(void)state;
	feed(&l, s, strlen(s));
	assert_int_equal(l.outcome, LINE_CUT);
	assert_int_equal(l.info.method, OA_METHOD_POST);
	assert_int_equal(l.info.truncated, 0);
	assert_string_equal(l.path, "/items");
	free(s);
}

static void test_line_at_the_limit_ends(void **state)
{
	/* the '\n' is the limit's last byte: a complete line, not a cut one */
	const char *head = "GET /", *tail = " HTTP/1.1\n";
	char *s = long_line(head, 'b', HTTP_MAX_LINE - strlen(head) - strlen(tail), tail);
	struct line l;

	(void)state;
	assert_int_equal(strlen(s), HTTP_MAX_LINE);
	feed(&l, s, strlen(s));
	assert_int_equal(l.outcome, LINE_ENDED);
	assert_int_equal(l.info.version, OA_HTTP_11);
	assert_int_equal(l.info.truncated, 1);
	free(s);
}

static void test_long_garbage_is_not_a_request(void **state)
{
	char *s = long_line("", 'A', 8000, "");
	struct line l;

	(void)state;
	feed(&l, s, strlen(s));
	assert_int_equal(l.outcome, LINE_NOT_REQUEST);
	assert_true(l.fed <= HTTP_MAX_METHOD + 1);
	free(s);
	feed(&l, "GET /\x01", 6);
	assert_int_equal(l.outcome, LINE_NOT_REQUEST);
	/* an unknown method: short, a request (_OTHER); this long, another protocol */
	feed(&l, "BREW /pot HTTP/1.1\r\n", 20);
	assert_int_equal(l.outcome, LINE_ENDED);
	assert_int_equal(l.info.method, OA_METHOD_OTHER);
	s = long_line("BREW /", 'c', 5000, " HTTP/1.1\r\n");
	feed(&l, s, strlen(s));
	assert_int_equal(l.outcome, LINE_NOT_REQUEST);
	free(s);
}

/* The header line s, avail of its bytes arrived: what the direction notes. */
static struct dir_state header(const char *s, __u32 avail)
{
	struct dir_state d;
	struct window w;

	memset(&d, 0, sizeof(d));
	/* stale bytes that would finish a value, had they counted */
	memset(w.buf, '\n', sizeof(w.buf));
	memcpy(w.buf, s, avail);
	http_header_line(&d, w.buf, 0, avail);
	return d;
}

static void test_content_length(void **state)
{
	const char *cl = "Content-Length: 1234\r\n";
	struct dir_state d;

	(void)state;
	d = header(cl, strlen(cl));
	assert_true(d.cl_seen && !d.bad_length);
	assert_int_equal(d.content_length, 1234);
	d = header("content-length:7\n", 17);
	assert_true(d.cl_seen);
	assert_int_equal(d.content_length, 7);
	/* the value may go on in the next read: nothing is concluded */
	d = header(cl, strlen(cl) - 2);
	assert_true(!d.cl_seen && !d.bad_length);
	/* a complete line with no value, the last bytes of a read: the same as anywhere */
	d = header("Content-Length:\n", 16);
	assert_true(!d.cl_seen && d.bad_length);
	d = header("Content-Length: -1\r\n", 20);
	assert_true(!d.cl_seen && d.bad_length);
	d = header("Content-Length: 12345678901\r\n", 29);
	assert_true(!d.cl_seen && d.bad_length);
	d = header("Transfer-Encoding: chunked\r\n", 28);
	assert_true(d.chunked);
	d = header("Transfer-Encoding: chunk", 24);
	assert_false(d.chunked);
}

static void test_header_block(void **state)
{
	const char *s = "Host: x\r\nContent-Length: 5\r\n\r\nhello";
	struct dir_state d = { 0 };
	struct window w;
	__u32 pos = 0, n;
	int ends = 0, guard;

	(void)state;
	memset(&w, 0, sizeof(w));
	memcpy(w.buf, s, strlen(s));
	http_begin_headers(&d, 1);
	for (guard = 0; guard < 100 && d.phase == PH_HEADERS; guard++) {
		if (d.at_line_start) {
			n = http_line_start(&d, w.buf, pos, strlen(s) - pos, &ends);
			if (ends) {
				pos += n;
				http_end_headers(&d, 0);
				break;
			}
			pos += n;
			if (n != HDR_LINE)
				continue;
		}
		pos += http_scan_line(&d, w.buf, pos, strlen(s) - pos);
	}
	assert_int_equal(d.phase, PH_BODY);
	assert_int_equal(d.body_left, 5);
	assert_int_equal(pos, strlen(s) - 5);
	assert_int_equal(http_skip_body(&d, 100), 5);
	assert_int_equal(d.phase, PH_START);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_path_is_a_cut_request),
		cmocka_unit_test(test_long_query_keeps_the_path),
		cmocka_unit_test(test_line_at_the_limit_ends),
		cmocka_unit_test(test_long_garbage_is_not_a_request),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_header_block),
	};

	return cmocka_run_group_tests_name("http_frame", tests, NULL, NULL);
}
