// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Histogram bucket bounds of both endpoints (built-in or configured), and
 * their union, which is what the kernel counts so that each endpoint's
 * histogram is exact.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "array.h"
#include "metrics/buckets.h"

static const double otel_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
				      0.5,   0.75, 1,	  2.5,	5,     7.5, 10 };
static const double plugin_bounds[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10 };

/* Body sizes in bytes: powers of four from 64 B to 16 MiB (the conventions advise none). */
static const double body_size_bounds[] = { 64,	  256,	  1024,	   4096,    16384,
					   65536, 262144, 1048576, 4194304, 16777216 };

const struct bucket_set buckets_body_size = { body_size_bounds,
					      ARRAY_SIZE(body_size_bounds),
					      { 0 } };
struct bucket_set buckets_otel = { otel_bounds, ARRAY_SIZE(otel_bounds), { 0 } };
struct bucket_set buckets_plugin = { plugin_bounds, ARRAY_SIZE(plugin_bounds), { 0 } };

int buckets_check(const double *bounds, unsigned int nr, const char **why)
{
	unsigned int i;

	if (!nr) {
		*why = "no bounds given";
		return -EINVAL;
	}
	if (nr > OA_MAX_BOUNDS) {
		*why = "more than 31 bounds";
		return -EINVAL;
	}
	for (i = 0; i < nr; i++) {
		if (!isfinite(bounds[i]) || bounds[i] < BUCKETS_MIN_BOUND ||
		    bounds[i] > BUCKETS_MAX_BOUND) {
			*why = "a bound is not a number of seconds from 0.000000001 to 1000000000 "
			       "(+Inf is implied: leave it out)";
			return -EINVAL;
		}
		if (i && !(bounds[i - 1] < bounds[i])) {
			*why = "the bounds are not strictly increasing";
			return -EINVAL;
		}
	}
	return 0;
}

_Static_assert(OA_MAX_BOUNDS == 31, "buckets_check says 31 bounds");

int buckets_set(struct bucket_set *set, const double *bounds, unsigned int nr)
{
	const char *why;

	if (!set || !bounds || buckets_check(bounds, nr, &why))
		return -EINVAL;
	memmove(set->own, bounds, nr * sizeof(*bounds));
	set->bounds = set->own;
	set->nr = nr;
	return 0;
}

/* A decimal number: digits, at most one '.', an optional exponent; no sign, no hex, no inf. */
static bool is_decimal(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	while (i < n && isdigit((unsigned char)s[i]))
		i++, digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && isdigit((unsigned char)s[i]); i++)
			digits++;
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && isdigit((unsigned char)s[i]); i++)
			exp++;
		if (!exp)
			return false;
	}
	return i == n;
}

int buckets_parse(const char *list, double *out, unsigned int max, const char **why)
{
	char num[64];
	unsigned int n = 0;
	const char *p = list;

	if (!list) {
		*why = "no bounds given";
		return -EINVAL;
	}
	for (;;) {
		size_t len;

		while (isblank((unsigned char)*p))
			p++;
		len = strcspn(p, ",");
		while (len && isblank((unsigned char)p[len - 1]))
			len--;
		if (!len) {
			*why = *p || n ? "an empty item: give numbers separated by single commas"
				       : "no bounds given";
			return -EINVAL;
		}
		if (len >= sizeof(num) || !is_decimal(p, len)) {
			*why = "an item is not a decimal number of seconds (as in 0.005,0.01,0.1; "
			       "+Inf is implied)";
			return -EINVAL;
		}
		if (n == max) {
			*why = "more than 31 bounds";
			return -EINVAL;
		}
		memcpy(num, p, len);
		num[len] = '\0';
		out[n++] = strtod(num, NULL);
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++; /* the comma */
	}
	return buckets_check(out, n, why) ? -EINVAL : (int)n;
}

int buckets_union(const struct bucket_set *a, const struct bucket_set *b, double *out,
		  unsigned int max)
{
	unsigned int i = 0, j = 0, n = 0;

	while (i < a->nr || j < b->nr) {
		double next;

		if (j == b->nr || (i < a->nr && a->bounds[i] < b->bounds[j]))
			next = a->bounds[i++];
		else if (i == a->nr || b->bounds[j] < a->bounds[i])
			next = b->bounds[j++];
		else {
			next = a->bounds[i++];
			j++;
		}
		if (n == max)
			return -E2BIG;
		out[n++] = next;
	}
	return (int)n;
}
