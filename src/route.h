/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns route templating: turning a raw URL path into a low-cardinality
 * http.route by replacing identifier-like segments with {id}.
 */
#ifndef OA_ROUTE_H
#define OA_ROUTE_H

#include <stddef.h>

/*
 * Write the route template of path (query already cut) to out. A segment
 * becomes "{id}" when it is all decimal digits, a UUID (8-4-4-4-12 hex), or a
 * hex string of 16 or more characters with at least one digit. Slashes are
 * kept as they are; a NULL or empty path gives "/". out is always
 * NUL-terminated when outlen > 0 and the result is cut to outlen - 1 bytes.
 * Returns the number of bytes written, not counting the NUL.
 */
int route_template(const char *path, char *out, size_t outlen);

#endif /* OA_ROUTE_H */
