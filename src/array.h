/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Arrays that grow by doubling as their elements come (series, targets, processes, map keys). */
#ifndef OA_ARRAY_H
#define OA_ARRAY_H

#include <stddef.h>

/*
 * Room for element n in v (*cap elements of size bytes): v itself while
 * n < *cap, else v reallocated to twice *cap (first when *cap is 0) and
 * *cap updated. NULL with errno set when out of memory; v is then left as
 * it was.
 */
void *array_grow(void *v, size_t *cap, size_t n, size_t size, size_t first);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* OA_ARRAY_H */
