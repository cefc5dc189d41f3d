/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A metrics body rendered on a thread of its own while libmicrohttpd's
 * thread sends it: rendering overlaps sending, and at most a few chunks of
 * the body are held at a time instead of all of it (tens of megabytes for
 * thousands of series), gzipped on the way when asked.
 */
#ifndef OA_BODY_STREAM_H
#define OA_BODY_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http_server.h"

/* Bytes of one chunk of a body, as rendered (or compressed) and handed to the sender. */
#define BODY_CHUNK_LEN (256 * 1024)
/* Bytes queued before the renderer waits for the sender. */
#define BODY_QUEUE_MAX (4 * BODY_CHUNK_LEN)

/*
 * One render at a time per server: the render function (its aggregation
 * state, the targets cache) is not thread-safe.
 */
struct stream_gate;

struct stream_gate *stream_gate_new(void);
/* Waits for the renders still running (their bodies abandoned), then frees g. */
void stream_gate_free(struct stream_gate *g);

struct body_stream;

/*
 * Starts rendering endpoint ep in fmt with render(ctx, ...), gzipped when
 * gzip is set and zlib can. NULL when out of memory. Release with
 * body_stream_release.
 */
struct body_stream *body_stream_start(struct stream_gate *g, render_fn render, void *ctx,
				      enum oa_endpoint ep, enum oa_format fmt, bool gzip);

/*
 * Waits until the body is complete or enough of it is ready to start
 * sending. Returns -1 when the render failed (nothing was sent yet: answer
 * an error), else 0 with *complete and, when complete, *size its length.
 */
int body_stream_wait(struct body_stream *bs, bool *complete, uint64_t *size);

/* True when the body is gzip. */
bool body_stream_gzipped(const struct body_stream *bs);

/*
 * Copies the next bytes of the body into buf (at most max), waiting for the
 * renderer: returns how many, 0 at the end, -1 when the render failed.
 */
ssize_t body_stream_read(struct body_stream *bs, char *buf, size_t max);

/* The sender is done with bs (sent, or the client went away): a render still running stops. */
void body_stream_release(struct body_stream *bs);

#endif /* OA_BODY_STREAM_H */
