/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The route of each kernel path, resolved once (route_resolve scans every
 * template) and kept while the kernel's series map has the path.
 */
#ifndef OA_ROUTE_MEMO_H
#define OA_ROUTE_MEMO_H

#include "metrics/route.h"

struct route_memo;

/* Empty; NULL with errno set when out of memory. */
struct route_memo *route_memo_new(void);

/* Accepts NULL. */
void route_memo_free(struct route_memo *memo);

/*
 * Points *route at the route of path (valid until the next
 * route_memo_sweep) and sets *ignored, as route_resolve with rules does;
 * resolved once, at the first scrape that has the path, and marked seen at
 * this one. The rules must be the same at every call. Returns 0 or
 * -ENOMEM.
 */
int route_memo_resolve(struct route_memo *memo, const struct route_rules *rules, const char *path,
		       unsigned long scrape, const char **route, bool *ignored);

/* Forgets the paths not seen at this scrape: the kernel map no longer has them. */
void route_memo_sweep(struct route_memo *memo, unsigned long scrape);

#endif /* OA_ROUTE_MEMO_H */
