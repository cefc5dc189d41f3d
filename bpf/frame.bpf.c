// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The framing's one global function (the rest of it is in frame.bpf.h,
 * inlined into the programs of http.bpf.c): request-line bytes fed to the
 * shared parser, verified once on its own rather than in every state of the
 * step callback that calls it.
 */
#include "frame.bpf.h"

__noinline int feed_request_line(struct conn_val *c, struct scratch *s, __u32 off, __u32 n)
{
	__u32 k;
	int r = 0;

	if (!c || !s)
		return LINE_FAILED;
#pragma clang loop unroll(full)
	for (k = 0; k < LINE_BYTES; k++) {
		if (k >= n)
			return k;
		r = http_request_step(&c->parser, c->path, s->buf[(off + k) & HTTP_WINDOW_MASK]);
		if (r)
			return (k + 1) | (r > 0 ? LINE_DONE : LINE_FAILED);
	}
	return LINE_BYTES;
}
