// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A metrics body rendered on a thread of its own and sent as it comes
 * (body_stream.h). The renderer writes to a FILE whose bytes land in
 * chunks (deflated first for gzip); full chunks are queued; the sender
 * copies them out and hands emptied chunks back for reuse, so a scrape
 * touches a few hot chunks instead of faulting in a body-sized buffer.
 *
 * One mutex per server, the gate's, guards the gate and the queues of its
 * streams; the renderer fills a chunk without it. Only renderers wait: for
 * the gate, and for room in their own queue once it holds BODY_QUEUE_MAX
 * (whatever the number of scrapes, a stream holds at most
 * BODY_STREAM_MAX_CHUNKS). The sender, the libmicrohttpd thread that serves
 * the stream's connection, never waits: with nothing to send it is
 * suspended (the waker), and the renderer resumes it when it queues bytes
 * or finishes.
 *
 * The waker is called with the gate's lock held, so that the decision to
 * suspend and the suspension are one step for a renderer that would resume:
 * a chunk queued between them cannot be missed, and a sender is resumed
 * only after it was suspended, once. libmicrohttpd takes its own lock
 * (cleanup_connection_mutex) inside MHD_suspend_connection and
 * MHD_resume_connection, and holds it only to move connections between its
 * lists, never while it calls the application (the access handler, the
 * content reader, the free callback, which take the gate's lock): the
 * order is always the gate's lock, then libmicrohttpd's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/body_stream.h"
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
	pthread_cond_t cond; /* broadcast when the gate is free or a renderer may have room */
	bool busy;	     /* a render runs */
	bool closing;	     /* stream_gate_close: no more suspending */
	const struct body_waker *waker;
	struct body_stream *senders; /* streams not released yet */
	size_t chunks, peak_chunks;  /* allocated by all streams */
	struct render_thread *threads;
};

struct body_stream {
	struct stream_gate *g;
	render_fn render;
	void *ctx;
	enum oa_endpoint ep;
	enum oa_format fmt;
	bool gzip;
	bool stopped; /* the renderer saw the body abandoned */
	struct render_thread *thread;
	z_stream zs;		 /* gzip's, the renderer's */
	struct body_chunk *fill; /* being filled, the renderer's */
	void *waker_arg;
	/* under g->lock */
	struct body_stream *prev, *next; /* in g->senders until released */
	struct body_chunk *head, *tail;	 /* queued */
	struct body_chunk *spare;	 /* emptied by the sender */
	size_t queued;			 /* bytes queued and not taken */
	uint64_t total;			 /* bytes queued in all */
	size_t chunks, peak_chunks;	 /* allocated */
	bool done, failed, abandoned;
	bool render_waits; /* for room: wake only when it waits */
	bool suspended;	   /* the sender, until there are `want` bytes or the end */
	size_t want;
	unsigned int refs; /* the renderer and the sender */
};

struct stream_gate *stream_gate_new(const struct body_waker *w)
{
	struct stream_gate *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->waker = w;
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

/* Resumes the sender of bs when suspended and what it waits for is there (or now); under g->lock. */
static void wake_sender(struct body_stream *bs, bool now)
{
	if (!bs->suspended || !(now || bs->done || bs->queued >= bs->want))
		return;
	bs->suspended = false;
	bs->g->waker->resume(bs->waker_arg);
}

/* Suspends the sender of bs until want bytes are queued or the body is done; under g->lock. */
static void suspend_sender(struct body_stream *bs, size_t want)
{
	bs->want = want;
	bs->suspended = true;
	bs->g->waker->suspend(bs->waker_arg);
}

void stream_gate_close(struct stream_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->closing = true;
	for (struct body_stream *bs = g->senders; bs; bs = bs->next)
		wake_sender(bs, true);
	pthread_mutex_unlock(&g->lock);
}

size_t stream_gate_peak_chunks(struct stream_gate *g)
{
	size_t n;

	pthread_mutex_lock(&g->lock);
	n = g->peak_chunks;
	pthread_mutex_unlock(&g->lock);
	return n;
}

size_t body_stream_peak_chunks(struct body_stream *bs)
{
	size_t n;

	pthread_mutex_lock(&bs->g->lock);
	n = bs->peak_chunks;
	pthread_mutex_unlock(&bs->g->lock);
	return n;
}

/* A new chunk, counted; NULL when out of memory. */
static struct body_chunk *chunk_new(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;
	struct body_chunk *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_lock(&g->lock);
	if (++bs->chunks > bs->peak_chunks)
		bs->peak_chunks = bs->chunks;
	if (++g->chunks > g->peak_chunks)
		g->peak_chunks = g->chunks;
	pthread_mutex_unlock(&g->lock);
	return c;
}

/* Frees the chunks from c on, uncounting them; under g->lock. */
static void free_chunks(struct body_stream *bs, struct body_chunk *c)
{
	while (c) {
		struct body_chunk *next = c->next;

		free(c);
		bs->chunks--;
		bs->g->chunks--;
		c = next;
	}
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

/* Drops one reference; the last frees the stream. */
static void stream_put(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;
	bool last;

	pthread_mutex_lock(&g->lock);
	last = !--bs->refs;
	if (last) {
		free_chunks(bs, bs->head);
		free_chunks(bs, bs->spare);
		if (bs->fill)
			bs->fill->next = NULL;
		free_chunks(bs, bs->fill);
	}
	pthread_mutex_unlock(&g->lock);
	if (!last)
		return;
	if (bs->gzip)
		deflateEnd(&bs->zs);
	free(bs);
}

/*
 * Queues the chunk being filled, resuming the sender, then waits while the
 * queue is full and the sender is there to empty it. false: abandoned.
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
	wake_sender(bs, false);
	/* once full, until half empty: a wake-up per chunk cost more than the copying */
	if (bs->queued >= BODY_QUEUE_MAX) {
		bs->render_waits = true;
		while (bs->queued > BODY_QUEUE_MAX / 2 && !bs->abandoned)
			pthread_cond_wait(&g->cond, &g->lock);
		bs->render_waits = false;
	}
	ok = !bs->abandoned;
	if (c)
		c->next = NULL;
	free_chunks(bs, c); /* an empty one */
	pthread_mutex_unlock(&g->lock);
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
		bs->fill = chunk_new(bs);
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
	while (g->busy)
		pthread_cond_wait(&g->cond, &g->lock);
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
	wake_sender(bs, false);
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
	/* the renderer hands over 64 KiB blocks: straight to stream_write, no stdio copy */
	setvbuf(f, NULL, _IONBF, 0);
	err = bs->render(bs->ctx, bs->ep, bs->fmt, f);
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && bs->gzip && !deflate_into(bs, Z_FINISH))
		err = -EIO;
	if (!err && !queue_fill(bs))
		err = -EIO;
	if (err && !bs->stopped)
		log_error("rendering %s failed: %s", endpoint_path(bs->ep), strerror(-err));
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

/* Removes bs from the gate's senders; under g->lock. */
static void unlink_sender(struct body_stream *bs)
{
	struct stream_gate *g = bs->g;

	if (bs->prev)
		bs->prev->next = bs->next;
	else if (g->senders == bs)
		g->senders = bs->next;
	if (bs->next)
		bs->next->prev = bs->prev;
	bs->prev = bs->next = NULL;
}

struct body_stream *body_stream_start(struct stream_gate *g, render_fn render, void *ctx,
				      enum oa_endpoint ep, enum oa_format fmt, bool gzip,
				      void *waker_arg)
{
	struct body_stream *bs = calloc(1, sizeof(*bs));

	if (!bs)
		return NULL;
	bs->g = g;
	bs->render = render;
	bs->ctx = ctx;
	bs->ep = ep;
	bs->fmt = fmt;
	bs->waker_arg = waker_arg;
	bs->refs = 2;
	/* gzip header and trailer (15 + 16); without zlib's memory the body goes out plain */
	bs->gzip = gzip && deflateInit2(&bs->zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
					Z_DEFAULT_STRATEGY) == Z_OK;
	pthread_mutex_lock(&g->lock);
	bs->next = g->senders;
	if (g->senders)
		g->senders->prev = bs;
	g->senders = bs;
	pthread_mutex_unlock(&g->lock);
	/* rendering here instead would block the sender's thread: no thread, no body */
	if (!start_thread(bs)) {
		log_error("rendering %s failed: cannot start a thread", endpoint_path(ep));
		pthread_mutex_lock(&g->lock);
		unlink_sender(bs);
		pthread_mutex_unlock(&g->lock);
		if (bs->gzip)
			deflateEnd(&bs->zs);
		free(bs);
		return NULL;
	}
	return bs;
}

int body_stream_poll(struct body_stream *bs, bool *complete, uint64_t *size)
{
	struct stream_gate *g = bs->g;
	int ret = 0;

	pthread_mutex_lock(&g->lock);
	if (g->closing) {
		ret = -ECANCELED;
	} else if (!bs->done && bs->queued < BODY_QUEUE_MAX) {
		suspend_sender(bs, BODY_QUEUE_MAX);
		ret = BODY_AGAIN;
	} else {
		*complete = bs->done;
		*size = bs->total;
		ret = bs->done && bs->failed ? -EIO : 0;
	}
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
	if (g->closing) {
		n = -ECANCELED;
	} else if (!bs->head && !bs->done) {
		suspend_sender(bs, 1);
		n = BODY_AGAIN;
	} else if (bs->failed) {
		n = -EIO; /* a body cut short: the client must not take it for whole */
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
	bs->suspended = false; /* the waker's argument may be gone */
	unlink_sender(bs);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	stream_put(bs);
}
