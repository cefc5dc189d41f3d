/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A metrics body rendered on a thread of its own while libmicrohttpd's
 * thread sends it: rendering overlaps sending, and at most a few chunks of
 * the body are held at a time instead of all of it (tens of megabytes for
 * thousands of series), gzipped on the way when asked. The sender never
 * waits: when the body is not ready, the stream suspends it (a callback)
 * and resumes it once there is something to do.
 */
#ifndef OA_BODY_STREAM_H
#define OA_BODY_STREAM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/http_server.h"

/* Bytes of one chunk of a body, as rendered (or compressed) and handed to the sender. */
#define BODY_CHUNK_LEN (256 * 1024)
/* Bytes queued before the renderer waits for the sender. */
#define BODY_QUEUE_MAX (4 * BODY_CHUNK_LEN)
/* The most chunks a stream holds at once: a full queue and the one being filled. */
#define BODY_STREAM_MAX_CHUNKS (BODY_QUEUE_MAX / BODY_CHUNK_LEN + 1)

/* body_stream_poll and body_stream_read: not ready, the sender was suspended. */
#define BODY_AGAIN (-EAGAIN)

/*
 * How a stream parks its sender (libmicrohttpd: suspend and resume the
 * connection, arg). suspend is called from body_stream_poll or
 * body_stream_read, on the sender's thread, right before they return
 * BODY_AGAIN; resume once, from any thread, when the sender should call
 * again. Both are called with the stream's lock held (no lost resume, no
 * resume without its suspend): they must not call back into the stream.
 */
struct body_waker {
	void (*suspend)(void *arg);
	void (*resume)(void *arg);
};

/*
 * One render at a time per server: the render function (its aggregation
 * state, the targets cache) is not thread-safe.
 */
struct stream_gate;

/* w is kept (not copied): it must outlive the gate. */
struct stream_gate *stream_gate_new(const struct body_waker *w);
/*
 * The server is stopping: resumes every suspended sender, and from now on
 * body_stream_poll and body_stream_read fail instead of suspending.
 */
void stream_gate_close(struct stream_gate *g);
/* Waits for the renders still running (their bodies abandoned), then frees g. */
void stream_gate_free(struct stream_gate *g);
/*
 * The most chunks the gate's streams have held at once, all together: the
 * bound on a scrape's memory that the tests check (the agent does not use it).
 */
size_t stream_gate_peak_chunks(struct stream_gate *g);

struct body_stream;

/*
 * Starts rendering endpoint ep in fmt with render(ctx, ...) on a thread of
 * its own, gzipped when gzip is set and zlib can; the sender is suspended
 * and resumed with the gate's waker and waker_arg. NULL when out of memory
 * or no thread can be started. Release with body_stream_release.
 */
struct body_stream *body_stream_start(struct stream_gate *g, render_fn render, void *ctx,
				      enum oa_endpoint ep, enum oa_format fmt, bool gzip,
				      void *waker_arg);

/*
 * Whether the body is complete or enough of it is ready to start sending:
 * 0 with *complete and, when complete, *size its length; BODY_AGAIN when
 * not yet (suspended: call again once resumed); -EIO when the render failed
 * (nothing was sent yet: answer an error), -ECANCELED when the gate is
 * closed.
 */
int body_stream_poll(struct body_stream *bs, bool *complete, uint64_t *size);

/* True when the body is gzip. */
bool body_stream_gzipped(const struct body_stream *bs);

/*
 * Copies the next bytes of the body into buf (at most max): returns how
 * many, 0 at the end, BODY_AGAIN when none are queued yet (suspended: call
 * again once resumed), -EIO when the render failed, -ECANCELED when the
 * gate is closed.
 */
ssize_t body_stream_read(struct body_stream *bs, char *buf, size_t max);

/* The most chunks bs has held at once (for the tests, as stream_gate_peak_chunks). */
size_t body_stream_peak_chunks(struct body_stream *bs);

/*
 * The sender is done with bs (sent, or the client went away): a render
 * still running stops, and the waker is not called any more.
 */
void body_stream_release(struct body_stream *bs);

#endif /* OA_BODY_STREAM_H */
