// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The connection's one global function (conn.bpf.h declares it): a waiting
 * request ended by its connection's end. It finds the connection and the
 * scratch itself from scalars, which every kernel's verifier takes as a
 * global function's arguments.
 */
#include "conn.bpf.h"

__noinline int OA_NAME(fail_oldest)(__u32 tgid, __s32 fd, int error)
{
	struct conn_key ck = { .tgid = tgid, .fd = fd };
	struct conn_val *c = bpf_map_lookup_elem(&conns, &ck);
	struct scratch *s = get_scratch();

	if (!c || !s || c->q.head == c->q.tail)
		return 1;
	count_event(OA_EV_CONN_ERRORS);
	record(s, c, &c->q.first, tgid, 0, 0, (__u8)error, bpf_ktime_get_ns() - c->q.first.start_ns,
	       NO_SIZE);
	advance_queue(c, tgid, fd);
	return 0;
}
