// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The endpoint's input handling: --listen addresses and Accept-Encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "http_server.h"

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	(void)state;
	assert_int_equal(parse_listen("127.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 9464);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(parse_listen("[::1]:8080", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 8080);

	assert_int_equal(parse_listen("0.0.0.0:1", &ss, &len), 0);

	assert_int_not_equal(parse_listen("9464", &ss, &len), 0);
	assert_int_not_equal(parse_listen(":9464", &ss, &len), 0);
	assert_int_not_equal(parse_listen("127.0.0.1:", &ss, &len), 0);
	assert_int_not_equal(parse_listen("127.0.0.1:http", &ss, &len), 0);
	assert_int_not_equal(parse_listen("[::1:9464", &ss, &len), 0);
}

static void test_accepts_gzip(void **state)
{
	(void)state;
	assert_true(accepts_gzip("gzip"));
	assert_true(accepts_gzip("gzip, deflate, br"));
	assert_true(accepts_gzip("deflate,GZIP"));
	assert_true(accepts_gzip("br;q=1.0, gzip;q=0.8"));
	assert_false(accepts_gzip("gzip;q=0"));
	assert_false(accepts_gzip("gzip; q=0.000"));
	assert_false(accepts_gzip("deflate, br"));
	assert_false(accepts_gzip("x-gzip2"));
	assert_false(accepts_gzip("identity"));
	assert_false(accepts_gzip(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_accepts_gzip),
	};

	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
