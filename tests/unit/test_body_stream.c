// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for src/body_stream.c: a body rendered on its own thread and
 * read as it comes, whole and in order, plain or gzip; render errors before
 * and after the first bytes; a reader that goes away; two scrapes at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "body_stream.h"

/* A hang (a deadlock) fails the run instead of blocking it. */
#define TEST_TIMEOUT_S 60

/* What a fake render writes and saw. */
struct fake {
	size_t len; /* bytes to write */
	bool fail;  /* fail (return -1) once fail_after bytes are written */
	size_t fail_after;
	pthread_mutex_t lock;
	int running, max_running; /* renders at once */
	int write_failed;	  /* an fwrite returned short: the body was abandoned */
	int renders;
};

static char pattern_at(size_t i)
{
	return (char)('a' + (i * 7 + i / 4096) % 26);
}

static void fake_init(struct fake *f, size_t len, bool fail, size_t fail_after)
{
	memset(f, 0, sizeof(*f));
	f->len = len;
	f->fail = fail;
	f->fail_after = fail_after;
	pthread_mutex_init(&f->lock, NULL);
}

/* Writes the pattern in pieces of changing size, as render.c's buffer and stray lines would. */
static int fake_render(void *ctx, enum oa_endpoint ep, enum oa_format fmt, FILE *out)
{
	struct fake *f = ctx;
	char piece[70000];
	size_t done = 0, step = 1;
	int ret = 0;

	(void)ep;
	(void)fmt;
	pthread_mutex_lock(&f->lock);
	f->renders++;
	if (++f->running > f->max_running)
		f->max_running = f->running;
	pthread_mutex_unlock(&f->lock);
	while (done < f->len || f->fail) {
		size_t n = step % sizeof(piece);

		if (n > f->len - done)
			n = f->len - done;
		if (f->fail && done >= f->fail_after) {
			ret = -1;
			break;
		}
		for (size_t i = 0; i < n; i++)
			piece[i] = pattern_at(done + i);
		if (fwrite(piece, 1, n, out) != n) {
			f->write_failed = 1;
			ret = -1;
			break;
		}
		done += n;
		step = step * 3 + 1;
	}
	pthread_mutex_lock(&f->lock);
	f->running--;
	pthread_mutex_unlock(&f->lock);
	return ret;
}

/* Reads the whole body in reads of at most max; returns it (len in *len). */
static char *read_all(struct body_stream *bs, size_t max, size_t *len, ssize_t *last)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	ssize_t got;

	assert_non_null(buf);
	for (;;) {
		if (cap - n < max) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = body_stream_read(bs, buf + n, max);
		if (got <= 0)
			break;
		assert_true((size_t)got <= max);
		n += (size_t)got;
	}
	*len = n;
	*last = got;
	return buf;
}

static void assert_pattern(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_at(i))
			fail_msg("byte %zu: got %c, want %c", i, buf[i], pattern_at(i));
}

static void test_plain_streamed(void **state)
{
	struct stream_gate *g = stream_gate_new();
	size_t len = 3 * BODY_QUEUE_MAX + 12345, got_len;
	struct body_stream *bs;
	struct fake f;
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	assert_non_null(g);
	fake_init(&f, len, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_non_null(bs);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_false(complete); /* larger than the queue: sent while rendered */
	assert_false(body_stream_gzipped(bs));
	body = read_all(bs, 7777, &got_len, &last);
	assert_int_equal(last, 0);
	assert_int_equal(got_len, len);
	assert_pattern(body, got_len);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

static void test_small_complete(void **state)
{
	struct stream_gate *g = stream_gate_new();
	size_t got_len;
	struct body_stream *bs;
	struct fake f;
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	fake_init(&f, 1000, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_PLUGIN, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_true(complete); /* rendered whole: its length is known */
	assert_int_equal(size, 1000);
	body = read_all(bs, 1 << 20, &got_len, &last);
	assert_int_equal(got_len, 1000);
	assert_int_equal(last, 0);
	assert_pattern(body, got_len);
	body_stream_release(bs);

	/* an empty body is complete too */
	fake_init(&f, 0, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_PLUGIN, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_true(complete);
	assert_int_equal(size, 0);
	assert_int_equal(body_stream_read(bs, (char *)&size, 1), 0);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

static void test_gzip(void **state)
{
	struct stream_gate *g = stream_gate_new();
	size_t len = 5 * BODY_QUEUE_MAX + 999, gz_len;
	struct body_stream *bs;
	struct fake f;
	z_stream zs = { 0 };
	bool complete;
	uint64_t size;
	ssize_t last;
	char *gz, *plain = malloc(len + 1);

	(void)state;
	fake_init(&f, len, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_OPENMETRICS, true);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_true(body_stream_gzipped(bs));
	gz = read_all(bs, 4096, &gz_len, &last);
	assert_int_equal(last, 0);
	if (complete)
		assert_int_equal(size, gz_len);
	assert_true(gz_len < len / 10);
	/* a gzip member (16 + 15), inflating to the body */
	assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
	zs.next_in = (Bytef *)gz;
	zs.avail_in = (uInt)gz_len;
	zs.next_out = (Bytef *)plain;
	zs.avail_out = (uInt)len + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, len);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	assert_pattern(plain, len);
	body_stream_release(bs);
	stream_gate_free(g);
	free(gz);
	free(plain);
}

/* A render that fails before the first bytes are sent: the caller can still answer 500. */
static void test_error_early(void **state)
{
	struct stream_gate *g = stream_gate_new();
	struct body_stream *bs;
	struct fake f;
	bool complete;
	uint64_t size;

	(void)state;
	fake_init(&f, 100, true, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), -1);
	body_stream_release(bs);

	/* fails after 50 bytes, all of them still queued when it is done */
	fake_init(&f, 100, true, 50);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), -1);
	body_stream_release(bs);
	stream_gate_free(g);
}

/* A render that fails after sending started: the reader gets an error, not an end. */
static void test_error_late(void **state)
{
	struct stream_gate *g = stream_gate_new();
	struct body_stream *bs;
	struct fake f;
	size_t got_len;
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	fake_init(&f, 4 * BODY_QUEUE_MAX, true, 2 * BODY_QUEUE_MAX);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_false(complete);
	body = read_all(bs, 65536, &got_len, &last);
	assert_int_equal(last, -1);
	assert_true(got_len < 4 * BODY_QUEUE_MAX);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

/* The client goes away mid-body: the render stops at its next write instead of running on. */
static void test_abandoned(void **state)
{
	struct stream_gate *g = stream_gate_new();
	struct body_stream *bs;
	struct fake f;
	bool complete;
	uint64_t size;
	char buf[1000];

	(void)state;
	fake_init(&f, 100 * BODY_QUEUE_MAX, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(bs, &complete, &size), 0);
	assert_int_equal(body_stream_read(bs, buf, sizeof(buf)), sizeof(buf));
	body_stream_release(bs);
	stream_gate_free(g); /* waits for the render */
	assert_int_equal(f.write_failed, 1);
	assert_int_equal(f.running, 0);
}

/*
 * A second scrape while the first one's body waits for its reader (on the
 * same thread, as on libmicrohttpd's): renders take turns, and the second
 * one starts without the first body being read.
 */
static void test_two_at_once(void **state)
{
	struct stream_gate *g = stream_gate_new();
	size_t len = 6 * BODY_QUEUE_MAX + 1, a_len, b_len;
	struct body_stream *a, *b;
	struct fake f;
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body_a, *body_b;

	(void)state;
	fake_init(&f, len, false, 0);
	a = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(a, &complete, &size), 0);
	b = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false);
	assert_int_equal(body_stream_wait(b, &complete, &size), 0);
	body_b = read_all(b, 100000, &b_len, &last);
	assert_int_equal(last, 0);
	body_a = read_all(a, 100000, &a_len, &last);
	assert_int_equal(last, 0);
	assert_int_equal(a_len, len);
	assert_int_equal(b_len, len);
	assert_pattern(body_a, a_len);
	assert_pattern(body_b, b_len);
	body_stream_release(a);
	body_stream_release(b);
	stream_gate_free(g);
	assert_int_equal(f.renders, 2);
	assert_int_equal(f.max_running, 1);
	free(body_a);
	free(body_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_streamed), cmocka_unit_test(test_small_complete),
		cmocka_unit_test(test_gzip),	       cmocka_unit_test(test_error_early),
		cmocka_unit_test(test_error_late),     cmocka_unit_test(test_abandoned),
		cmocka_unit_test(test_two_at_once),
	};

	alarm(TEST_TIMEOUT_S);
	return cmocka_run_group_tests_name("body_stream", tests, NULL, NULL);
}
