// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bucket bounds: the built-in ones, their union, validation, configuration and parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "metrics/buckets.h"

static void test_union(void **state)
{
	static const double want[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
				       0.5,   0.75,  1,	   2.5,	  5,	7.5,   10 };
	double out[OA_MAX_BOUNDS];
	int n;

	(void)state;
	n = buckets_union(&buckets_otel, &buckets_plugin, out, OA_MAX_BOUNDS);
	assert_int_equal(n, 15);
	for (int i = 0; i < n; i++)
		assert_true(out[i] == want[i]);
	/* every endpoint bound is in the union, so both histograms are exact */
	for (unsigned int i = 0; i < buckets_plugin.nr; i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found |= out[j] == buckets_plugin.bounds[i];
		assert_true(found);
	}
	assert_int_equal(buckets_union(&buckets_otel, &buckets_plugin, out, 14), -E2BIG);
}

static void test_buckets_check(void **state)
{
	static const double ok[] = { 0.002, 0.02, 0.2, 2 };
	static const double unsorted[] = { 0.1, 0.05 };
	static const double repeat[] = { 0.1, 0.1 };
	static const double zero[] = { 0, 0.1 };
	static const double negative[] = { -1, 0.1 };
	static const double inf[] = { 0.1, 1.0 / 0.0 };
	static const double tiny[] = { 1e-10 };
	double nan[1], many[OA_MAX_BOUNDS + 1];
	const char *why;

	(void)state;
	nan[0] = 0.0 / 0.0;
	for (int i = 0; i <= OA_MAX_BOUNDS; i++)
		many[i] = 0.001 * (i + 1);
	assert_int_equal(buckets_check(ok, 4, &why), 0);
	assert_int_equal(buckets_check(many, OA_MAX_BOUNDS, &why), 0);
	assert_int_equal(buckets_check(many, OA_MAX_BOUNDS + 1, &why), -EINVAL);
	assert_int_equal(buckets_check(ok, 0, &why), -EINVAL);
	assert_int_equal(buckets_check(unsorted, 2, &why), -EINVAL);
	assert_int_equal(buckets_check(repeat, 2, &why), -EINVAL);
	assert_int_equal(buckets_check(zero, 2, &why), -EINVAL);
	assert_int_equal(buckets_check(negative, 2, &why), -EINVAL);
	assert_int_equal(buckets_check(inf, 2, &why), -EINVAL);
	assert_int_equal(buckets_check(nan, 1, &why), -EINVAL);
	assert_int_equal(buckets_check(tiny, 1, &why), -EINVAL);
}

static void test_buckets_set(void **state)
{
	static const double mine[] = { 0.002, 0.02, 0.2 };
	static const double bad[] = { 0.2, 0.02 };
	/* configured as config_apply_buckets does, on a copy: the bounds in force stay built-in */
	struct bucket_set otel = buckets_otel;
	double out[OA_MAX_BOUNDS];
	int n;

	(void)state;
	assert_int_equal(buckets_set(&otel, mine, 3), 0);
	assert_int_equal(otel.nr, 3);
	assert_true(otel.bounds[2] == 0.2);
	assert_ptr_equal(otel.bounds, otel.own);
	/* a refused set leaves the bounds as they were */
	assert_int_equal(buckets_set(&otel, bad, 2), -EINVAL);
	assert_int_equal(otel.nr, 3);
	n = buckets_union(&otel, &buckets_plugin, out, OA_MAX_BOUNDS);
	assert_int_equal(n, 12); /* 9 plugin bounds and 3 others */
	assert_true(out[0] == 0.001 && out[1] == 0.002 && out[11] == 10);
	/* the built-in bounds */
	assert_int_equal(buckets_otel.nr, 14);
	assert_true(buckets_otel.bounds[0] == 0.005);
	assert_int_equal(buckets_plugin.nr, 9);
	assert_true(buckets_plugin.bounds[0] == 0.001);
}

static void test_buckets_parse(void **state)
{
	double out[OA_MAX_BOUNDS];
	const char *why;
	char many[512];
	size_t o = 0;

	(void)state;
	assert_int_equal(buckets_parse("0.005,0.01,0.025", out, OA_MAX_BOUNDS, &why), 3);
	assert_true(out[0] == 0.005 && out[1] == 0.01 && out[2] == 0.025);
	assert_int_equal(buckets_parse(" 0.5 , 1,\t2.5e0 ,10 ", out, OA_MAX_BOUNDS, &why), 4);
	assert_true(out[2] == 2.5 && out[3] == 10);
	assert_int_equal(buckets_parse("5e-3", out, OA_MAX_BOUNDS, &why), 1);
	assert_true(out[0] == 0.005);
	assert_int_equal(buckets_parse(".5,1.", out, OA_MAX_BOUNDS, &why), 2);
	for (int i = 1; i <= OA_MAX_BOUNDS + 1; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%s%d", i > 1 ? "," : "", i);
	assert_int_equal(buckets_parse(many, out, OA_MAX_BOUNDS, &why), -EINVAL);
	*strrchr(many, ',') = '\0';
	assert_int_equal(buckets_parse(many, out, OA_MAX_BOUNDS, &why), OA_MAX_BOUNDS);

	static const char *const bad[] = {
		"",	   " ",	  "0.1,", ",0.1", "0.1,,0.2", "0.1 0.2", "+Inf",
		"0.1,inf", "nan", "-0.1", "+0.1", "0x10",     "1e",	 "1e+",
		"0.2,0.1", "abc", "0",	  "1,1",  "1e-12",    "1e10",	 "0.1;0.2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (buckets_parse(bad[i], out, OA_MAX_BOUNDS, &why) != -EINVAL)
			fail_msg("'%s': want an error", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(buckets_parse(NULL, out, OA_MAX_BOUNDS, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_union),
		cmocka_unit_test(test_buckets_check),
		cmocka_unit_test(test_buckets_set),
		cmocka_unit_test(test_buckets_parse),
	};

	return cmocka_run_group_tests_name("buckets", tests, NULL, NULL);
}
