/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns where an endpoint's buckets come from: the snapshot checked before
 * anything is written, and each of the endpoint's bounds found among the
 * ones the kernel counts, with its le text.
 */
#ifndef OA_EXPOSE_LAYOUT_H
#define OA_EXPOSE_LAYOUT_H

#include <stdio.h>

#include "expose/number.h"
#include "expose/render.h"

/* An endpoint has at most as many bounds as the kernel counts. */
#define MAX_HIST_BOUNDS OA_MAX_BOUNDS

/* A bucket's le value as its lines end it: 0.005"} (then the count). */
struct le_text {
	char s[NUM_LEN + 4];
	size_t len;
};

/* An endpoint's buckets mapped onto the snapshot's bounds. */
struct hist_layout {
	size_t n;
	unsigned int idx[MAX_HIST_BOUNDS]; /* the snapshot bound equal to each endpoint bound */
	struct le_text le[MAX_HIST_BOUNDS];
};

/* A bound as le, in the format's form, with what ends the bucket lines after it. */
void le_init(struct le_text *le, enum oa_format fmt, double v);

/*
 * Checks s, out and fmt, and maps bounds[0..n) onto s->bounds: 0, or
 * -EINVAL when s is malformed or lacks one of the bounds. A bound the
 * kernel does not count is an error, never an interpolation.
 */
int layout_init(struct hist_layout *h, const struct oa_snapshot *s, FILE *out, enum oa_format fmt,
		const double *bounds, size_t n);

#endif /* OA_EXPOSE_LAYOUT_H */
