// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for src/server/body_stream.c: a body rendered on its own thread and
 * read as it comes, whole and in order, plain or gzip; render errors before
 * and after the first bytes; a reader that goes away; scrapes at once, each
 * holding a bounded number of chunks; a closed gate. The reader is treated
 * as libmicrohttpd's thread: never waiting on the stream, only suspended
 * (the waker) until the stream resumes it.
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

#include "server/body_stream.h"

/* A hang (a deadlock) fails the run instead of blocking it. */
#define TEST_TIMEOUT_S 60

/* What a fake render writes and saw. */
struct fake {
	size_t len; /* bytes to write */
	bool fail;  /* fail (return -EIO) once fail_after bytes are written */
	size_t fail_after;
	pthread_mutex_t lock;
	int running, max_running; /* renders at once */
	int write_failed;	  /* an fwrite returned short: the body was abandoned */
	int renders;
	bool block;   /* wait for unblock() before writing */
	bool blocked; /* the render waits in block */
	pthread_cond_t cond;
};

/*
 * The sender's side of a stream, as libmicrohttpd would keep it: suspended
 * or not. One lock and condition for all, so that one thread can wait for
 * any of its streams to be resumed.
 */
struct sender {
	bool suspended;
	int suspends, resumes;
};

static pthread_mutex_t sender_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sender_cond = PTHREAD_COND_INITIALIZER;

static void sender_suspend(void *arg)
{
	struct sender *s = arg;

	pthread_mutex_lock(&sender_lock);
	if (s->suspended)
		fail_msg("suspended twice");
	s->suspended = true;
	s->suspends++;
	pthread_mutex_unlock(&sender_lock);
}

static void sender_resume(void *arg)
{
	struct sender *s = arg;

	pthread_mutex_lock(&sender_lock);
	if (!s->suspended)
		fail_msg("resumed without being suspended");
	s->suspended = false;
	s->resumes++;
	pthread_cond_broadcast(&sender_cond);
	pthread_mutex_unlock(&sender_lock);
}

static const struct body_waker test_waker = { .suspend = sender_suspend, .resume = sender_resume };

static bool is_suspended(struct sender *s)
{
	bool ret;

	pthread_mutex_lock(&sender_lock);
	ret = s->suspended;
	pthread_mutex_unlock(&sender_lock);
	return ret;
}

static void wait_resumed(struct sender *s)
{
	pthread_mutex_lock(&sender_lock);
	while (s->suspended)
		pthread_cond_wait(&sender_cond, &sender_lock);
	pthread_mutex_unlock(&sender_lock);
}

/* body_stream_poll, called again each time it is resumed. */
static int poll_ready(struct body_stream *bs, struct sender *s, bool *complete, uint64_t *size)
{
	int ret;

	while ((ret = body_stream_poll(bs, complete, size)) == BODY_AGAIN)
		wait_resumed(s);
	return ret;
}

/* body_stream_read, called again each time it is resumed. */
static ssize_t read_ready(struct body_stream *bs, struct sender *s, char *buf, size_t max)
{
	ssize_t ret;

	while ((ret = body_stream_read(bs, buf, max)) == BODY_AGAIN)
		wait_resumed(s);
	return ret;
}

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
	pthread_cond_init(&f->cond, NULL);
}

static void unblock(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->block = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Writes the pattern in pieces of changing size, as the renderer's buffer (expose/text_out.c) and stray lines would. */
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
	f->blocked = f->block;
	while (f->block)
		pthread_cond_wait(&f->cond, &f->lock);
	f->blocked = false;
	pthread_mutex_unlock(&f->lock);
	while (done < f->len || f->fail) {
		size_t n = step % sizeof(piece);

		if (n > f->len - done)
			n = f->len - done;
		if (f->fail && done >= f->fail_after) {
			ret = -EIO;
			break;
		}
		for (size_t i = 0; i < n; i++)
			piece[i] = pattern_at(done + i);
		if (fwrite(piece, 1, n, out) != n) {
			f->write_failed = 1;
			ret = -EIO;
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
static char *read_all(struct body_stream *bs, struct sender *s, size_t max, size_t *len,
		      ssize_t *last)
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
		got = read_ready(bs, s, buf + n, max);
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
	struct stream_gate *g = stream_gate_new(&test_waker);
	size_t len = 3 * BODY_QUEUE_MAX + 12345, got_len;
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	assert_non_null(g);
	fake_init(&f, len, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_non_null(bs);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_false(complete); /* larger than the queue: sent while rendered */
	assert_false(body_stream_gzipped(bs));
	body = read_all(bs, &snd, 7777, &got_len, &last);
	assert_int_equal(last, 0);
	assert_int_equal(got_len, len);
	assert_pattern(body, got_len);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

static void test_small_complete(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	size_t got_len;
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	fake_init(&f, 1000, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_PLUGIN, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_true(complete); /* rendered whole: its length is known */
	assert_int_equal(size, 1000);
	body = read_all(bs, &snd, 1 << 20, &got_len, &last);
	assert_int_equal(got_len, 1000);
	assert_int_equal(last, 0);
	assert_pattern(body, got_len);
	body_stream_release(bs);

	/* an empty body is complete too */
	fake_init(&f, 0, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_PLUGIN, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_true(complete);
	assert_int_equal(size, 0);
	assert_int_equal(body_stream_read(bs, (char *)&size, 1), 0);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

static void test_gzip(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	size_t len = 5 * BODY_QUEUE_MAX + 999, gz_len;
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	z_stream zs = { 0 };
	bool complete;
	uint64_t size;
	ssize_t last;
	char *gz, *plain = malloc(len + 1);

	(void)state;
	fake_init(&f, len, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_OPENMETRICS, true, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_true(body_stream_gzipped(bs));
	gz = read_all(bs, &snd, 4096, &gz_len, &last);
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
	struct stream_gate *g = stream_gate_new(&test_waker);
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	bool complete;
	uint64_t size;

	(void)state;
	fake_init(&f, 100, true, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), -EIO);
	body_stream_release(bs);

	/* fails after 50 bytes, all of them still queued when it is done */
	fake_init(&f, 100, true, 50);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), -EIO);
	body_stream_release(bs);
	stream_gate_free(g);
}

/* A render that fails after sending started: the reader gets an error, not an end. */
static void test_error_late(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	size_t got_len;
	bool complete;
	uint64_t size;
	ssize_t last;
	char *body;

	(void)state;
	fake_init(&f, 4 * BODY_QUEUE_MAX, true, 2 * BODY_QUEUE_MAX);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_false(complete);
	body = read_all(bs, &snd, 65536, &got_len, &last);
	assert_int_equal(last, -EIO);
	assert_true(got_len < 4 * BODY_QUEUE_MAX);
	body_stream_release(bs);
	stream_gate_free(g);
	free(body);
}

/* The client goes away mid-body: the render stops at its next write instead of running on. */
static void test_abandoned(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	struct body_stream *bs;
	struct fake f;
	struct sender snd = { 0 };
	bool complete;
	uint64_t size;
	char buf[1000];

	(void)state;
	fake_init(&f, 100 * BODY_QUEUE_MAX, false, 0);
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(poll_ready(bs, &snd, &complete, &size), 0);
	assert_int_equal(body_stream_read(bs, buf, sizeof(buf)), sizeof(buf));
	body_stream_release(bs);
	stream_gate_free(g); /* waits for the render */
	assert_int_equal(f.write_failed, 1);
	assert_int_equal(f.running, 0);
}

/*
 * Scrapes at once, sent by one thread as libmicrohttpd's would: it serves
 * whichever stream is not suspended and waits only when all are. Renders
 * take turns, each waiting for room in its own queue, so that every body
 * comes whole while no stream ever holds more than BODY_STREAM_MAX_CHUNKS
 * (a whole body would be 4 * 12 + 1).
 */
#define SCRAPES 4

static void test_scrapes_at_once(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	size_t len = 12 * BODY_QUEUE_MAX + 1, got[SCRAPES] = { 0 };
	struct body_stream *bs[SCRAPES];
	struct sender snd[SCRAPES] = { 0 };
	int phase[SCRAPES] = { 0 }; /* 0 polling, 1 reading, 2 read whole */
	char *body[SCRAPES];
	struct fake f;
	int left = SCRAPES;

	(void)state;
	fake_init(&f, len, false, 0);
	for (int i = 0; i < SCRAPES; i++) {
		bs[i] = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false,
					  &snd[i]);
		assert_non_null(bs[i]);
		body[i] = malloc(len);
		assert_non_null(body[i]);
	}
	while (left) {
		bool any = false;

		for (int i = 0; i < SCRAPES; i++) {
			bool complete;
			uint64_t size;
			ssize_t n;

			if (phase[i] == 2 || is_suspended(&snd[i]))
				continue;
			if (phase[i] == 0) {
				n = body_stream_poll(bs[i], &complete, &size);
				if (n == BODY_AGAIN)
					continue;
				assert_int_equal(n, 0);
				assert_false(complete);
				phase[i] = 1;
				continue;
			}
			n = body_stream_read(bs[i], body[i] + got[i], 100000);
			if (n == BODY_AGAIN)
				continue;
			assert_true(n >= 0);
			got[i] += (size_t)n;
			assert_true(got[i] <= len);
			if (!n) {
				phase[i] = 2;
				left--;
			}
		}
		/* wait until one stream with something left to do is resumed */
		pthread_mutex_lock(&sender_lock);
		while (left && !any) {
			for (int i = 0; i < SCRAPES; i++)
				any |= phase[i] != 2 && !snd[i].suspended;
			if (!any)
				pthread_cond_wait(&sender_cond, &sender_lock);
		}
		pthread_mutex_unlock(&sender_lock);
	}
	for (int i = 0; i < SCRAPES; i++) {
		assert_int_equal(got[i], len);
		assert_pattern(body[i], got[i]);
		assert_true(body_stream_peak_chunks(bs[i]) <= BODY_STREAM_MAX_CHUNKS);
		assert_int_equal(snd[i].suspends, snd[i].resumes);
		body_stream_release(bs[i]);
		free(body[i]);
	}
	assert_true(stream_gate_peak_chunks(g) <= SCRAPES * BODY_STREAM_MAX_CHUNKS);
	stream_gate_free(g);
	assert_int_equal(f.renders, SCRAPES);
	assert_int_equal(f.max_running, 1);
}

/*
 * A sender suspended on a render that cannot go on is resumed by
 * stream_gate_close (the server stopping), then told the body failed
 * instead of being suspended again.
 */
static void test_gate_close(void **state)
{
	struct stream_gate *g = stream_gate_new(&test_waker);
	struct sender snd = { 0 };
	struct body_stream *bs;
	struct fake f;
	bool complete;
	uint64_t size;
	char buf[10];

	(void)state;
	fake_init(&f, 2 * BODY_QUEUE_MAX, false, 0);
	f.block = true;
	bs = body_stream_start(g, fake_render, &f, EP_OTEL, OA_FORMAT_PROMETHEUS, false, &snd);
	assert_int_equal(body_stream_poll(bs, &complete, &size), BODY_AGAIN);
	assert_true(is_suspended(&snd));
	stream_gate_close(g);
	assert_false(is_suspended(&snd));
	assert_int_equal(snd.resumes, 1);
	assert_int_equal(body_stream_poll(bs, &complete, &size), -ECANCELED);
	assert_int_equal(body_stream_read(bs, buf, sizeof(buf)), -ECANCELED);
	assert_false(is_suspended(&snd));
	body_stream_release(bs);
	unblock(&f);
	stream_gate_free(g); /* the render stops at its first write */
	assert_int_equal(f.write_failed, 1);
	assert_int_equal(snd.suspends, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_streamed),
		cmocka_unit_test(test_small_complete),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_error_early),
		cmocka_unit_test(test_error_late),
		cmocka_unit_test(test_abandoned),
		cmocka_unit_test(test_scrapes_at_once),
		cmocka_unit_test(test_gate_close),
	};

	alarm(TEST_TIMEOUT_S);
	return cmocka_run_group_tests_name("body_stream", tests, NULL, NULL);
}
