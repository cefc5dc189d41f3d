/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The requests waiting for their response now, by method and route, for
 * the active column of otel-agent top: the endpoints export them by method
 * only (clients.c); top also needs the route of each.
 */
#ifndef OA_TOP_ACTIVE_H
#define OA_TOP_ACTIVE_H

#include "kernel/loader.h"
#include "metrics/route.h"
#include "top/table.h"

/*
 * Adds to t every request the targets are answering now (the oldest of each
 * connection, in conns, and those pipelined behind it, in reqs), under the
 * route rules give its path; requests on an ignored route are left out, as
 * the endpoints leave them out. 0 or -errno.
 */
int top_active_add(struct loader *a, const struct route_rules *rules, struct top_table *t);

#endif /* OA_TOP_ACTIVE_H */
