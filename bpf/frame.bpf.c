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
	if (!c || !s)
		return LINE_FAILED;
	return http_feed_line(&c->parser, line_path(c), s->buf, off, n);
}
