// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A metrics body rendered on a thread of its own and sent as it comes
 * (body_stream.h). The renderer writes to a FILE whose bytes land in
 * chunks (deflated first for gzip); full chunks are queued; the sender
 * copies them out and hands emptied chunks back for reuse, so a scrape
 * touches a few hot chunks instead of faulting in a body-sized buffer.
 *
 * One mutex per server, the gate's, guards the gate and the queues of its
 * streams; the renderer fills a chunk without it. No wait can deadlock on
 * libmicrohttpd's one thread, which is every stream's sender: the renderer
 * waits for room only while no other render waits for the gate (that
 * thread may be the one waiting), and the sender waits for bytes only while
 * its render has not finished, which then needs nothing from the sender.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "body_stream.h"
#include "log.h"

/* Fastest zlib level: a third of the time of the default for 10% more bytes. */
#define GZIP_LEVEL Z_BEST_SPEED
/* deflate's input per call: avail_in is an unsigned int. */
#define DEFLATE_MAX_IN (1U << 30)

struct body_chunk {
	struct body_chunk *next;
	size_t len;
	size_t taken; /* bytes the sender has copied out */
	char data[BODY_CHUNK_LEN];
};

/* A render thread, joined once finished: the gate is freed only after its threads are gone. */
struct render_thread {
	struct render_thread *next;
	pthread_t tid;
	bool finished;
};

struct stream_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* broadcast at every change below or in a stream */
	bool busy;	      /* a render runs */
	unsigned int waiting; /* renders waiting for the gate */
	struct render_thread *threads;
};

struct body_stream {
	struct stream_gate *g;
	render_fn render;
	void *ctx;
	enum oa_endpoint ep;
	enum oa_format fmt;
	bool gzip;
	bool stopped;		      /* the renderer saw the body abandoned */
	struct render_thread *thread; /* NULL: rendered on the caller's thread, never waiting */
	z_stream zs;		      /* gzip's, the renderer's */
	struct body_chunk *fill;      /* being filled, the renderer's */
	/* under g->lock */
	struct body_chunk *head, *tail; /* queued */
	struct body_chunk *spare;	/* emptied by the sender */
	size_t queued;			/* bytes queued and not taken */
	uint64_t total;			/* bytes queued in all */
	bool done, failed, abandoned;
	bool render_waits, send_waits; /* for room, for bytes: wake only who waits */
	unsigned int refs;	       /* the renderer and the sender */
};

struct stream_gate *stream_gate_new(void)
{
	struct stream_gate *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	if (pthread_mutex_init(&g->lock, NULL)) {
		free(g);
		return NULL;
	}
	if (pthread_cond_init(&g->cond, NULL)) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	return g;
}

void stream_gate_free(struct stream_gate *g)
{
	struct render_thread *t, *next;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	t = g->threads;
	g->threads = NULL;
	pthread_mutex_unlock(&g->lock);
	for (; t; t = next) {
		next = t->next;
		pthread_join(t->tid, NULL);
		free(t);
	}
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void free_chunks(struct body_chunk *c)
{
	while (c) {
		struct body_chunk *next = c->next;

		free(c);
		c = next;
	}
}

/* Drops one reference; the last frees the stream. */
static void stream_put(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;
	bool last;

	pthread_mutex_lock(&g->lock);
	last = !--bs->refs;
	pthread_mutex_unlock(&g->lock);
	if (!last)
		return;
	free_chunks(bs->head);
	free_chunks(bs->spare);
	free(bs->fill);
	if (bs->gzip)
		deflateEnd(&bs->zs);
	free(bs);
}

/*
 * Queues the chunk being filled, then waits while the queue is full, the
 * sender is there to empty it and no other render waits. false: abandoned.
 */
static bool queue_fill(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;
	struct body_chunk *c = bs->fill;
	bool ok;

	bs->fill = NULL;
	pthread_mutex_lock(&g->lock);
	if (c && c->len) {
		c->next = NULL;
		if (bs->tail)
			bs->tail->next = c;
		else
			bs->head = c;
		bs->tail = c;
		bs->queued += c->len;
		bs->total += c->len;
		c = NULL;
	}
	if (bs->send_waits)
		pthread_cond_broadcast(&g->cond);
	/* once full, until half empty: a wake-up per chunk cost more than the copying */
	if (bs->thread && bs->queued >= BODY_QUEUE_MAX) {
		bs->render_waits = true;
		while (bs->queued > BODY_QUEUE_MAX / 2 && !g->waiting && !bs->abandoned)
			pthread_cond_wait(&g->cond, &g->lock);
		bs->render_waits = false;
	}
	ok = !bs->abandoned;
	pthread_mutex_unlock(&g->lock);
	free(c);
	bs->stopped |= !ok;
	return ok;
}

/* A chunk with room, after queuing the full one; NULL when abandoned or out of memory. */
static struct body_chunk *fill_chunk(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;

	if (bs->fill && bs->fill->len < BODY_CHUNK_LEN)
		return bs->fill;
	if (bs->fill && !queue_fill(bs))
		return NULL;
	pthread_mutex_lock(&g->lock);
	bs->fill = bs->spare;
	if (bs->fill)
		bs->spare = bs->fill->next;
	pthread_mutex_unlock(&g->lock);
	if (!bs->fill)
		bs->fill = malloc(sizeof(*bs->fill));
	if (bs->fill) {
		bs->fill->next = NULL;
		bs->fill->len = 0;
		bs->fill->taken = 0;
	}
	return bs->fill;
}

static ssize_t write_plain(struct body_stream *bs, const char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		struct body_chunk *c = fill_chunk(bs);
		size_t n;

		if (!c)
			return 0; /* fopencookie: 0 is an error */
		n = BODY_CHUNK_LEN - c->len;
		if (n > size - done)
			n = size - done;
		memcpy(c->data + c->len, buf + done, n);
		c->len += n;
		done += n;
	}
	return (ssize_t)size;
}

/* Deflates what zs holds into chunks with flush; false when abandoned or out of memory. */
static bool deflate_into(struct body_stream *bs, int flush)
{
	int ret;

	do {
		struct body_chunk *c = fill_chunk(bs);

		if (!c)
			return false;
		bs->zs.next_out = (Bytef *)c->data + c->len;
		bs->zs.avail_out = (uInt)(BODY_CHUNK_LEN - c->len);
		ret = deflate(&bs->zs, flush);
		c->len = BODY_CHUNK_LEN - bs->zs.avail_out;
		if (ret == Z_STREAM_ERROR)
			return false;
	} while (bs->zs.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
	return true;
}

static ssize_t write_gzip(struct body_stream *bs, const char *buf, size_t size)
{
	size_t done = 0;

	while (done < size) {
		size_t n = size - done < DEFLATE_MAX_IN ? size - done : DEFLATE_MAX_IN;

		bs->zs.next_in = (Bytef *)(buf + done);
		bs->zs.avail_in = (uInt)n;
		if (!deflate_into(bs, Z_NO_FLUSH))
			return 0;
		done += n;
	}
	return (ssize_t)size;
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	struct body_stream *bs = cookie;

	return bs->gzip ? write_gzip(bs, buf, size) : write_plain(bs, buf, size);
}

static void gate_enter(struct stream_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond); /* a render waiting for room must not any more */
	while (g->busy)
		pthread_cond_wait(&g->cond, &g->lock);
	g->waiting--;
	g->busy = true;
	pthread_mutex_unlock(&g->lock);
}

/* The render is over: the stream is done, and the gate is free. */
static void gate_leave(struct body_stream *bs, bool failed)
{
	struct stream_gate *g = bs->g;

	pthread_mutex_lock(&g->lock);
	bs->done = true;
	bs->failed = failed;
	g->busy = false;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static const char *endpoint_path(enum oa_endpoint ep)
{
	return ep == EP_OTEL ? "/metrics/otel" : "/metrics";
}

/* Renders the whole body into the stream; false when it failed or was abandoned. */
static bool render_body(struct body_stream *bs)
{
	cookie_io_functions_t io = { .write = stream_write };
	FILE *f = fopencookie(bs, "w", io);
	int err;

	if (!f) {
		log_error("rendering %s failed: out of memory", endpoint_path(bs->ep));
		return false;
	}
	/* render.c hands over 64 KiB blocks: straight to stream_write, no stdio copy */
	setvbuf(f, NULL, _IONBF, 0);
	err = bs->render(bs->ctx, bs->ep, bs->fmt, f);
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && bs->gzip && !deflate_into(bs, Z_FINISH))
		err = -EIO;
	if (!err && !queue_fill(bs))
		err = -EIO;
	if (err && !bs->stopped)
		log_error("rendering %s failed (%d)", endpoint_path(bs->ep), err);
	return !err;
}

/* Renders bs in its turn; then the stream is done and the renderer's reference dropped. */
static void run_render(struct body_stream *bs)
{
	gate_enter(bs->g);
	gate_leave(bs, !render_body(bs));
	stream_put(bs);
}

static void *render_thread(void *arg)
{
	struct body_stream *bs = arg;
	struct render_thread *self = bs->thread;
	struct stream_gate *g = bs->g;

	run_render(bs); /* bs may be gone after this */
	pthread_mutex_lock(&g->lock);
	self->finished = true;
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Joins the render threads that finished; under g->lock. */
static void reap_threads(struct stream_gate *g)
{
	struct render_thread **pp = &g->threads, *t;

	while ((t = *pp)) {
		if (!t->finished) {
			pp = &t->next;
			continue;
		}
		pthread_join(t->tid, NULL); /* it has nothing left to do but return */
		*pp = t->next;
		free(t);
	}
}

/* Starts the render thread of bs; false when none can be started. */
static bool start_thread(struct body_stream *bs)
{
	struct render_thread *t = calloc(1, sizeof(*t));
	struct stream_gate *g = bs->g;
	bool ok;

	if (!t)
		return false;
	bs->thread = t;
	pthread_mutex_lock(&g->lock);
	reap_threads(g);
	/* under the lock: the thread cannot say it finished before it is listed */
	ok = !pthread_create(&t->tid, NULL, render_thread, bs);
	if (ok) {
		t->next = g->threads;
		g->threads = t;
	}
	pthread_mutex_unlock(&g->lock);
	if (!ok) {
		bs->thread = NULL;
		free(t);
	}
	return ok;
}

struct body_stream *body_stream_start(struct stream_gate *g, render_fn render, void *ctx,
				      enum oa_endpoint ep, enum oa_format fmt, bool gzip)
{
	struct body_stream *bs = calloc(1, sizeof(*bs));

	if (!bs)
		return NULL;
	bs->g = g;
	bs->render = render;
	bs->ctx = ctx;
	bs->ep = ep;
	bs->fmt = fmt;
	bs->refs = 2;
	/* gzip header and trailer (15 + 16); without zlib's memory the body goes out plain */
	bs->gzip = gzip && deflateInit2(&bs->zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
					Z_DEFAULT_STRATEGY) == Z_OK;
	if (!start_thread(bs))
		run_render(bs); /* no thread: render here, the whole body held */
	return bs;
}

int body_stream_wait(struct body_stream *bs, bool *complete, uint64_t *size)
{
	struct stream_gate *g = bs->g;
	int ret;

	pthread_mutex_lock(&g->lock);
	bs->send_waits = true;
	while (!bs->done && bs->queued < BODY_QUEUE_MAX)
		pthread_cond_wait(&g->cond, &g->lock);
	bs->send_waits = false;
	*complete = bs->done;
	*size = bs->total;
	ret = bs->done && bs->failed ? -1 : 0;
	pthread_mutex_unlock(&g->lock);
	return ret;
}

bool body_stream_gzipped(const struct body_stream *bs)
{
	return bs->gzip;
}

/* Copies queued bytes into buf, handing emptied chunks back; under g->lock. */
static size_t take_queued(struct body_stream *bs, char *buf, size_t max)
{
	size_t n = 0;

	while (bs->head && n < max) {
		struct body_chunk *c = bs->head;
		size_t k = c->len - c->taken;

		if (k > max - n)
			k = max - n;
		memcpy(buf + n, c->data + c->taken, k);
		c->taken += k;
		n += k;
		if (c->taken < c->len)
			break;
		bs->head = c->next;
		if (!bs->head)
			bs->tail = NULL;
		c->next = bs->spare;
		bs->spare = c;
	}
	bs->queued -= n;
	return n;
}

ssize_t body_stream_read(struct body_stream *bs, char *buf, size_t max)
{
	struct stream_gate *g = bs->g;
	ssize_t n;

	pthread_mutex_lock(&g->lock);
	bs->send_waits = true;
	while (!bs->head && !bs->done)
		pthread_cond_wait(&g->cond, &g->lock);
	bs->send_waits = false;
	if (bs->failed) {
		n = -1; /* a body cut short: the client must not take it for whole */
	} else {
		n = (ssize_t)take_queued(bs, buf, max);
		if (bs->render_waits && bs->queued <= BODY_QUEUE_MAX / 2)
			pthread_cond_broadcast(&g->cond); /* room for the renderer */
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

void body_stream_release(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;

	pthread_mutex_lock(&g->lock);
	bs->abandoned = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	stream_put(bs);
}
