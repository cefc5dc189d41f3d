// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bucket-bound union and the merge of series that share a route. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "aggregate.h"
#include "buckets.h"

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
	assert_int_equal(buckets_union(&buckets_otel, &buckets_plugin, out, 14), -1);
}

static struct oa_series mk(__u8 method, __u16 status, const char *route, __u64 count, int bucket)
{
	struct oa_series s;

	memset(&s, 0, sizeof(s));
	s.method = method;
	s.status = status;
	s.version = OA_HTTP_11;
	strcpy(s.route, route);
	s.count = count;
	s.sum_ns = count * 1000;
	s.buckets[bucket] = count;
	return s;
}

static void test_merge(void **state)
{
	struct oa_series s[5];
	size_t n;

	(void)state;
	/* /users/1 and /users/2 both became /users/{id} in two processes */
	s[0] = mk(OA_METHOD_GET, 200, "/users/{id}", 3, 0);
	s[1] = mk(OA_METHOD_POST, 201, "/users", 1, 2);
	s[2] = mk(OA_METHOD_GET, 200, "/users/{id}", 4, 5);
	s[3] = mk(OA_METHOD_GET, 404, "/users/{id}", 2, 0);
	s[4] = mk(OA_METHOD_GET, 200, "/users/{id}", 1, 0);
	n = series_merge(s, 5);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].method, OA_METHOD_GET);
	assert_int_equal(s[0].status, 200);
	assert_int_equal(s[0].count, 8);
	assert_int_equal(s[0].sum_ns, 8000);
	assert_int_equal(s[0].buckets[0], 4);
	assert_int_equal(s[0].buckets[5], 4);
	assert_int_equal(s[1].status, 404);
	assert_int_equal(s[1].count, 2);
	assert_int_equal(s[2].method, OA_METHOD_POST);
	assert_int_equal(s[2].count, 1);
	assert_int_equal(series_merge(s, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_union),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests_name("aggregate", tests, NULL, NULL);
}
