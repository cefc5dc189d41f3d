// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The retired store: series kept in their exported form, merged with what
 * is added later under the same labels, bounded (past it, overflow series
 * and the "_OTHER" server), and the counts it keeps for ignored and
 * overflow requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "metrics/retired.h"

static struct oa_series labels(__u8 method, __u16 status, const char *route)
{
	struct oa_series s;

	memset(&s, 0, sizeof(s));
	s.method = method;
	s.status = status;
	s.version = OA_HTTP_11;
	strcpy(s.route, route);
	return s;
}

static struct http_stats stats(__u64 count)
{
	struct http_stats st;

	memset(&st, 0, sizeof(st));
	st.count = count;
	st.sum_ns = count * 10;
	st.buckets[3] = count;
	return st;
}

static void test_merges_by_exported_labels(void **state)
{
	struct retired r;
	struct oa_series a = labels(OA_METHOD_GET, 200, "/a"), b = labels(OA_METHOD_GET, 404, "/b");
	struct http_stats one = stats(1), two = stats(2);

	(void)state;
	retired_init(&r, 10, 10);
	assert_int_equal(retired_add_series(&r, &a, &one), 0);
	assert_int_equal(retired_add_series(&r, &b, &two), 0);
	retired_settle(&r);
	assert_int_equal(r.nr_series, 2);
	/* found among the settled ones, added in place */
	assert_int_equal(retired_add_series(&r, &a, &two), 0);
	assert_int_equal(r.nr_series, 2);
	retired_settle(&r);
	assert_int_equal(r.nr_series, 2);
	assert_string_equal(r.series[0].route, "/a");
	assert_int_equal(r.series[0].stats.count, 3);
	assert_int_equal(r.series[0].stats.buckets[3], 3);
	assert_int_equal(r.series[1].stats.count, 2);
	/* added twice before a settle: merged by it */
	assert_int_equal(retired_add_series(&r, &(struct oa_series){ 0 }, &one), 0);
	a = labels(OA_METHOD_POST, 201, "/c");
	assert_int_equal(retired_add_series(&r, &a, &one), 0);
	assert_int_equal(retired_add_series(&r, &a, &one), 0);
	retired_settle(&r);
	assert_int_equal(r.nr_series, 4);
	assert_int_equal(r.overflowed, 0);
	retired_free(&r);
}

static void test_overflow_and_bound(void **state)
{
	struct retired r;
	struct oa_series s = labels(OA_METHOD_GET, 200, "/a");
	struct http_stats one = stats(1), five = stats(5);
	char route[32];

	(void)state;
	retired_init(&r, 3, 10);
	/* an overflow series keeps status and error only, whatever else it had */
	s.overflow = 1;
	assert_int_equal(retired_add_series(&r, &s, &five), 0);
	assert_int_equal(r.overflowed, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(route, sizeof(route), "/r%d", i);
		s = labels(OA_METHOD_GET, 200, route);
		assert_int_equal(retired_add_series(&r, &s, &one), 0);
	}
	retired_settle(&r);
	/* 3 label sets kept, the 2 past the bound folded into the 200 overflow series */
	assert_int_equal(r.nr_series, 4);
	assert_int_equal(r.overflowed, 7);
	assert_false(r.series[0].overflow);
	assert_true(r.series[3].overflow);
	assert_int_equal(r.series[3].method, OA_METHOD_OTHER);
	assert_string_equal(r.series[3].route, "");
	assert_int_equal(r.series[3].stats.count, 7);
	/* a kept label set still takes more */
	s = labels(OA_METHOD_GET, 200, "/r0");
	assert_int_equal(retired_add_series(&r, &s, &five), 0);
	retired_settle(&r);
	assert_int_equal(r.nr_series, 4);
	assert_int_equal(r.series[0].stats.count, 6);
	retired_free(&r);
}

static void test_clients(void **state)
{
	struct retired r;
	struct oa_client_series c;

	(void)state;
	retired_init(&r, 10, 2);
	for (int i = 0; i < 4; i++) {
		memset(&c, 0, sizeof(c));
		c.method = OA_METHOD_GET;
		c.status = 200;
		c.server_port = 8000;
		snprintf(c.server_address, sizeof(c.server_address), "10.0.0.%d", i % 3);
		c.stats = stats(1);
		assert_int_equal(retired_add_client(&r, &c), 0);
	}
	retired_settle(&r);
	/* 3 servers, bound 2: the last in order goes to _OTHER */
	assert_int_equal(r.nr_clients, 3);
	__u64 sum = 0, other = 0;
	for (size_t i = 0; i < r.nr_clients; i++) {
		sum += r.clients[i].stats.count;
		if (!strcmp(r.clients[i].server_address, "_OTHER"))
			other += r.clients[i].stats.count;
	}
	assert_int_equal(sum, 4);
	assert_int_equal(other, 1);
	retired_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merges_by_exported_labels),
		cmocka_unit_test(test_overflow_and_bound),
		cmocka_unit_test(test_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
