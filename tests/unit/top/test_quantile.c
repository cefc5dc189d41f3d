// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * histogram_quantile over exact buckets: answers worked out by hand, and
 * the example ClickHouse documents for its copy of Prometheus' rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include "top/quantile.h"

#define assert_close(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/* 10 requests up to 10 ms, 20 up to 100 ms, 60 up to 1 s, 10 slower: 100 in all. */
static const double bounds[] = { 0.01, 0.1, 1 };
static const __u64 counts[] = { 10, 20, 60, 10 };

static void test_interpolation(void **state)
{
	(void)state;
	/* rank 5 in the first bucket, taken from 0: 0 + 0.01 * 5/10 */
	assert_close(top_quantile(bounds, 3, counts, 0.05), 0.005);
	/* rank 20: 10 below, 10 of the second bucket's 20: 0.01 + 0.09 * 10/20 */
	assert_close(top_quantile(bounds, 3, counts, 0.2), 0.055);
	/* rank 50: 30 below, 20 of 60: 0.1 + 0.9 * 20/60 */
	assert_close(top_quantile(bounds, 3, counts, 0.5), 0.4);
	/* rank 90 is reached at the third bucket's end */
	assert_close(top_quantile(bounds, 3, counts, 0.9), 1);
	/* rank 95 is in +Inf: the highest finite bound */
	assert_close(top_quantile(bounds, 3, counts, 0.95), 1);
	assert_close(top_quantile(bounds, 3, counts, 0.99), 1);
}

static void test_one_sample(void **state)
{
	static const __u64 one[] = { 0, 1, 0, 0 };

	(void)state;
	/* rank 0.5 of the one sample, halfway through its bucket */
	assert_close(top_quantile(bounds, 3, one, 0.5), 0.055);
	assert_close(top_quantile(bounds, 3, one, 0.99), 0.01 + 0.09 * 0.99);
}

static void test_empty_bucket_reached(void **state)
{
	static const double b[] = { 1, 2, 3 };
	static const __u64 c[] = { 2, 0, 2, 0 };

	(void)state;
	/* the first bucket whose cumulative count reaches the rank: the first one, whole */
	assert_close(top_quantile(b, 3, c, 0.5), 1);
	/* past it, the empty bucket is skipped: 2 below, 1 of the third bucket's 2 */
	assert_close(top_quantile(b, 3, c, 0.75), 2.5);
}

static void test_nothing_to_say(void **state)
{
	static const __u64 zero[] = { 0, 0, 0, 0 };
	static const __u64 only_inf[] = { 5 };

	(void)state;
	assert_true(isnan(top_quantile(bounds, 3, zero, 0.5)));
	/* only the +Inf bucket: Prometheus says NaN too */
	assert_true(isnan(top_quantile(bounds, 0, only_inf, 0.5)));
	assert_true(isnan(top_quantile(bounds, 3, counts, NAN)));
	assert_true(isinf(top_quantile(bounds, 3, counts, -0.1)) &&
		    top_quantile(bounds, 3, counts, -0.1) < 0);
	assert_true(isinf(top_quantile(bounds, 3, counts, 1.1)) &&
		    top_quantile(bounds, 3, counts, 1.1) > 0);
}

/*
 * ClickHouse's quantilePrometheusHistogram documents "as PromQL's
 * histogram_quantile on a classic histogram": le 0, 0.5, 1, +Inf with
 * cumulative counts 6, 11, 14, 19 gives 0.35 at 0.5; a first bound at 0
 * is returned as it is.
 */
static void test_documented_example(void **state)
{
	static const double b[] = { 0, 0.5, 1 };
	static const __u64 c[] = { 6, 5, 3, 5 };

	(void)state;
	assert_close(top_quantile(b, 3, c, 0.5), 0.35);
	assert_close(top_quantile(b, 3, c, 0.1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interpolation),	     cmocka_unit_test(test_one_sample),
		cmocka_unit_test(test_empty_bucket_reached), cmocka_unit_test(test_nothing_to_say),
		cmocka_unit_test(test_documented_example),
	};

	return cmocka_run_group_tests_name("quantile", tests, NULL, NULL);
}
