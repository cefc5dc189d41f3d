// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The endpoint's input handling: --listen addresses, Accept-Encoding and Accept. */
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

#define OM   OA_FORMAT_OPENMETRICS
#define PROM OA_FORMAT_PROMETHEUS
/* What Prometheus 2.x sends by default, and Prometheus 3's default. */
#define PROM2_ACCEPT                                                                             \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;" \
	"q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define PROM3_ACCEPT                                                                 \
	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"     \
	"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;" \
	"escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

static void test_negotiate_format(void **state)
{
	(void)state;
	assert_int_equal(negotiate_format(PROM2_ACCEPT), OM);
	assert_int_equal(negotiate_format(PROM3_ACCEPT), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text; version=1.0.0"), OM);
	assert_int_equal(negotiate_format("Application/OpenMetrics-Text; Version=\"1.0.0\""), OM);
	assert_int_equal(negotiate_format("text/plain;q=0.5, application/openmetrics-text"), OM);
	/* equal q: the client named OpenMetrics */
	assert_int_equal(negotiate_format("application/openmetrics-text, text/plain"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.3,*/*;q=0.3"), OM);

	/* no header, wildcards only, text preferred, or OpenMetrics refused */
	assert_int_equal(negotiate_format(NULL), PROM);
	assert_int_equal(negotiate_format(""), PROM);
	assert_int_equal(negotiate_format("*/*"), PROM);
	assert_int_equal(negotiate_format("application/*"), PROM);
	assert_int_equal(negotiate_format("text/plain;version=0.0.4"), PROM);
	assert_int_equal(negotiate_format("text/plain, application/openmetrics-text;q=0.9"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,text/*"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,*/*;q=0.6"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=abc"), PROM);
	/* a version the agent does not write */
	assert_int_equal(negotiate_format("application/openmetrics-text; version=0.0.1"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text; version=2.0.0,"
					  "text/plain;q=0.1"),
			 PROM);
	assert_int_equal(negotiate_format("application/json"), PROM);
	assert_int_equal(negotiate_format(",,;,=;q"), PROM);
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(format_content_type(PROM), "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(format_content_type(OM),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_accepts_gzip),
		cmocka_unit_test(test_negotiate_format),
		cmocka_unit_test(test_content_types),
	};

	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
