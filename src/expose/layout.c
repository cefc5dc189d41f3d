// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns where an endpoint's buckets come from (layout.h). The kernel counts
 * one set of buckets over the union of both endpoints' bounds, so every
 * bucket written is an exact sum of kernel buckets.
 */
#include <errno.h>
#include <string.h>

#include "expose/layout.h"

static int same_bound(double a, double b)
{
	double d = a > b ? a - b : b - a;
	double m = a > 0 ? a : -a;

	return a == b || d <= 1e-12 * m;
}

void le_init(struct le_text *le, enum oa_format fmt, double v)
{
	fmt_le(le->s, NUM_LEN, v, fmt);
	le->len = strlen(le->s);
	memcpy(le->s + le->len, "\"} ", 4);
	le->len += 3;
}

/* Before any output: a malformed snapshot is an error, never half an exposition. */
int layout_init(struct hist_layout *h, const struct oa_snapshot *s, FILE *out, enum oa_format fmt,
		const double *bounds, size_t n)
{
	unsigned int i, k;

	if (!s || !out || s->nr_bounds > OA_MAX_BOUNDS || (s->nr_bounds && !s->bounds) ||
	    (s->nr_series && !s->series) || (s->nr_targets && !s->targets) ||
	    (s->nr_size_bounds && !s->size_bounds) ||
	    (fmt != OA_FORMAT_PROMETHEUS && fmt != OA_FORMAT_OPENMETRICS))
		return -EINVAL;
	for (i = 1; i < s->nr_bounds; i++)
		if (!(s->bounds[i - 1] < s->bounds[i]))
			return -EINVAL;
	h->n = n;
	for (k = 0; k < n; k++) {
		for (i = 0; i < s->nr_bounds && !same_bound(bounds[k], s->bounds[i]); i++)
			;
		if (i == s->nr_bounds)
			return -EINVAL;
		h->idx[k] = i;
		le_init(&h->le[k], fmt, bounds[k]);
	}
	return 0;
}
