// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Growing arrays by doubling, so that appending n elements costs O(n)
 * copies in all.
 */
#include <stdlib.h>
#include "array.h"

void *array_grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t ncap;

	if (n < *cap)
		return v;
	ncap = *cap ? 2 * *cap : first;
	v = realloc(v, ncap * size);
	if (v)
		*cap = ncap;
	return v;
}
