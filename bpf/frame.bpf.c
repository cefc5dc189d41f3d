// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The framing's global functions (the rest of it is in frame.bpf.h,
 * inlined into the programs of http.bpf.c): request-line bytes fed to the
 * shared parser, verified once on its own rather than in every state of the
 * step callback that calls it; in the compat build (variant.bpf.h), the
 * steps themselves.
 */
#include "frame.bpf.h"

OA_POINTER_ARGS_FUNC int feed_request_line(struct conn_val *c, struct scratch *s, __u32 off,
					   __u32 n)
{
	if (!c || !s)
		return LINE_FAILED;
	return http_feed_line(&c->parser, line_path(c), s->buf, off, n);
}

#ifdef OA_COMPAT
/* A step of the framing set up in the scratch, on the connection it names. */
static __always_inline int step_compat(bool response)
{
	struct frame_ctx f = { .s = get_scratch() };
	struct conn_key ck;

	if (!f.s)
		return 1;
	ck.tgid = f.s->fr.tgid;
	ck.fd = f.s->fr.fd;
	f.c = bpf_map_lookup_elem(&conns, &ck);
	return (int)frame_step(&f, response);
}

__noinline int request_step_compat(void)
{
	return step_compat(false);
}

__noinline int response_step_compat(void)
{
	return step_compat(true);
}
#endif
