// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What every user of a series agrees on: the export order, and merging equal series. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "metrics/series.h"

static struct oa_series mk(__u8 method, __u16 status, const char *route, __u64 count, int bucket)
{
	struct oa_series s;

	memset(&s, 0, sizeof(s));
	s.method = method;
	s.status = status;
	s.version = OA_HTTP_11;
	strcpy(s.route, route);
	s.stats.count = count;
	s.stats.sum_ns = count * 1000;
	s.stats.buckets[bucket] = count;
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
	assert_int_equal(s[0].stats.count, 8);
	assert_int_equal(s[0].stats.sum_ns, 8000);
	assert_int_equal(s[0].stats.buckets[0], 4);
	assert_int_equal(s[0].stats.buckets[5], 4);
	assert_int_equal(s[1].status, 404);
	assert_int_equal(s[1].stats.count, 2);
	assert_int_equal(s[2].method, OA_METHOD_POST);
	assert_int_equal(s[2].stats.count, 1);
	assert_int_equal(series_merge(s, 0), 0);
}

static void test_merge_overflow(void **state)
{
	struct oa_series s[5];
	size_t n;

	(void)state;
	s[0] = mk(OA_METHOD_GET, 200, "/a", 1, 0);
	s[1] = mk(OA_METHOD_GET, 200, "", 2, 0);
	s[1].overflow = 1;
	s[2] = mk(OA_METHOD_POST, 200, "/x", 3, 1);
	s[2].overflow = 1; /* method, version and route of an overflow series do not count */
	s[3] = mk(OA_METHOD_GET, 503, "", 4, 0);
	s[3].overflow = 1;
	s[4] = mk(OA_METHOD_GET, 200, "/a", 5, 0);
	n = series_merge(s, 5);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].overflow, 0);
	assert_int_equal(s[0].stats.count, 6);
	assert_int_equal(s[1].overflow, 1);
	assert_int_equal(s[1].status, 200);
	assert_int_equal(s[1].stats.count, 5);
	assert_int_equal(s[1].stats.buckets[0], 2);
	assert_int_equal(s[1].stats.buckets[1], 3);
	assert_int_equal(s[2].overflow, 1);
	assert_int_equal(s[2].status, 503);
	assert_int_equal(s[2].stats.count, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_overflow),
	};

	return cmocka_run_group_tests_name("series", tests, NULL, NULL);
}
