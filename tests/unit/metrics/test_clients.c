// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Client series merging: the same server and outcome from two processes is one series. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "metrics/clients.h"

static struct oa_client_series mk(const char *addr, __u16 port, __u16 status, __u64 count)
{
	struct oa_client_series c;

	memset(&c, 0, sizeof(c));
	strcpy(c.server_address, addr);
	c.server_port = port;
	c.method = OA_METHOD_GET;
	c.version = OA_HTTP_11;
	c.status = status;
	c.stats.count = count;
	c.stats.sum_ns = count * 10;
	c.stats.buckets[1] = count;
	c.stats.resp_body.count = count;
	c.stats.resp_body.sum = count * 100;
	c.stats.resp_body.buckets[2] = count;
	return c;
}

static void test_merge(void **state)
{
	struct oa_client_series c[5];

	(void)state;
	c[0] = mk("10.0.0.2", 80, 200, 3);
	c[1] = mk("10.0.0.1", 80, 200, 1);
	c[2] = mk("10.0.0.2", 80, 200, 4); /* another process, same server and outcome */
	c[3] = mk("10.0.0.2", 80, 503, 2);
	c[4] = mk("10.0.0.2", 8080, 200, 5);
	assert_int_equal(clients_merge(c, 5), 4);
	assert_string_equal(c[0].server_address, "10.0.0.1");
	assert_string_equal(c[1].server_address, "10.0.0.2");
	assert_int_equal(c[1].server_port, 80);
	assert_int_equal(c[1].status, 200);
	assert_int_equal(c[1].stats.count, 7);
	assert_int_equal(c[1].stats.sum_ns, 70);
	assert_int_equal(c[1].stats.buckets[1], 7);
	assert_int_equal(c[1].stats.resp_body.count, 7);
	assert_int_equal(c[1].stats.resp_body.sum, 700);
	assert_int_equal(c[1].stats.resp_body.buckets[2], 7);
	assert_int_equal(c[2].status, 503);
	assert_int_equal(c[3].server_port, 8080);
	assert_int_equal(clients_merge(c, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests_name("clients", tests, NULL, NULL);
}
