// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What `otel-agent top` prints without a screen: the exact text of a small
 * table (whole, and cut to a width), its exact JSON, and routes and names
 * with quotes, backslashes and control bytes in both.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "top/format.h"

static const struct oa_target targets[] = { { 1234, "core-svc" }, { 99, "api" } };
static const char *const names[] = { "node", NULL };
static __u64 events[OA_EV_COUNT], map_errors[OA_ERR_COUNT];
static struct top_row rows[3];
static struct top_table table;
static struct top_header header;

static struct top_row row(__u8 method, const char *route, __u64 total, __u64 interval, double rate)
{
	struct top_row r;

	memset(&r, 0, sizeof(r));
	r.method = method;
	strcpy(r.route, route);
	r.total = total;
	r.interval = interval;
	r.rate = rate;
	r.share_4xx = r.share_5xx = NAN;
	r.p50 = r.p90 = r.p99 = NAN;
	return r;
}

static int setup(void **state)
{
	(void)state;
	rows[0] = row(OA_METHOD_GET, "/hello", 120, 20, 10);
	rows[0].share_4xx = 0.05;
	rows[0].share_5xx = 0;
	rows[0].errors = 1;
	rows[0].p50 = 0.0025;
	rows[0].p90 = 0.0125;
	rows[0].p99 = 1.2;
	rows[0].active = 2;
	rows[1] = row(OA_METHOD_POST, "/users/{id}/orders/{order}", 5, 0, 0);
	rows[2] = row(OA_METHOD_OTHER, "", 3, 1, 0.5);
	rows[2].overflow = true;
	rows[2].share_4xx = rows[2].share_5xx = 0;
	rows[2].p50 = 0.0004;
	rows[2].p90 = 0.0009;
	rows[2].p99 = 0.00099;

	table.rows = rows;
	table.nr = 3;
	table.interval_s = 2;
	table.all = row(OA_METHOD_OTHER, "", 128, 24, 12);
	table.all.share_4xx = 0.125;
	table.all.share_5xx = 0;
	table.all.errors = 1;
	table.all.p50 = 0.0025;
	table.all.p90 = 0.0125;
	table.all.p99 = 1.2;
	table.all.active = 2;

	events[OA_EV_REQUESTS_DROPPED] = 3;
	events[OA_EV_NOT_HTTP] = 4;
	events[OA_EV_UNMATCHED_RESPONSES] = 5;
	events[OA_EV_REQUESTS] = 1000; /* not shown */
	map_errors[OA_ERR_CONNS] = 1;
	map_errors[OA_ERR_REQS] = 2;

	header.targets = targets;
	header.nr_targets = 2;
	header.target_names = names;
	header.events = events;
	header.map_errors = map_errors;
	header.sort = TOP_COL_P99;
	header.reverse = true;
	header.filter = "/h";
	header.paused = true;
	return 0;
}

/* What top_format_text printed for t and h, as a string to free. */
static char *text_of(const struct top_table *t, const struct top_header *h, int width)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(top_format_text(f, t, h, width), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *json_of(const struct top_table *t, const struct top_header *h, double time)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(top_format_json(f, t, h, time), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_text(void **state)
{
	static const char want[] =
		"otel-agent top: 2 target(s): 1234 node (core-svc), 99 (api)  every 2.0 s; quantiles interpolated within buckets (histogram_quantile)\n"
		"requests: 128 total, 12.0/s, 2 active, 4xx 12.5%, 5xx 0.0%, errors 1 | agent: dropped 3, map errors 3, not HTTP 4, unmatched 5\n"
		"sort: p99 reversed  filter: /h  paused\n"
		"\n"
		"METHOD  ROUTE                        REQ/S   TOTAL  4XX%  5XX% ERRORS     P50     P90     P99 ACTIVE\n"
		"GET     /hello                        10.0     120   5.0   0.0      1   2.5ms  12.5ms   1.20s      2\n"
		"POST    /users/{id}/orders/{order}     0.0       5     -     -      0       -       -       -      0\n"
		"-       (overflow)                     0.5       3   0.0   0.0      0  0.40ms  0.90ms  0.99ms      0\n";
	char *got;

	(void)state;
	got = text_of(&table, &header, 0);
	assert_string_equal(got, want);
	free(got);
	/* wide enough: the same */
	got = text_of(&table, &header, 1000);
	assert_string_equal(got, want);
	free(got);
}

static void test_text_width(void **state)
{
	/* the route column shrinks to what is left of 90 columns, long lines end in ~ */
	static const char want90[] =
		"otel-agent top: 2 target(s): 1234 node (core-svc), 99 (api)  every 2.0 s; quantiles inter~\n"
		"requests: 128 total, 12.0/s, 2 active, 4xx 12.5%, 5xx 0.0%, errors 1 | agent: dropped 3, ~\n"
		"sort: p99 reversed  filter: /h  paused\n"
		"\n"
		"METHOD  ROUTE              REQ/S   TOTAL  4XX%  5XX% ERRORS     P50     P90     P99 ACTIVE\n"
		"GET     /hello              10.0     120   5.0   0.0      1   2.5ms  12.5ms   1.20s      2\n"
		"POST    /users/{id}/ord~     0.0       5     -     -      0       -       -       -      0\n"
		"-       (overflow)           0.5       3   0.0   0.0      0  0.40ms  0.90ms  0.99ms      0\n";
	/* narrower than the numbers: the route at its least, every line cut */
	static const char want40[] = "otel-agent top: 2 target(s): 1234 node ~\n"
				     "requests: 128 total, 12.0/s, 2 active, ~\n"
				     "sort: p99 reversed  filter: /h  paused\n"
				     "\n"
				     "METHOD  ROUTE    REQ/S   TOTAL  4XX%  5~\n"
				     "GET     /hello    10.0     120   5.0   ~\n"
				     "POST    /user~     0.0       5     -   ~\n"
				     "-       (over~     0.5       3   0.0   ~\n";
	char *got, *line;

	(void)state;
	got = text_of(&table, &header, 90);
	assert_string_equal(got, want90);
	for (line = strtok(got, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(strlen(line) <= 90);
	free(got);
	got = text_of(&table, &header, 40);
	assert_string_equal(got, want40);
	free(got);
	assert_int_equal(top_format_text(stdout, &table, &header, -1), -EINVAL);
}

static void test_text_header_parts(void **state)
{
	struct top_header h = { 0 };
	struct top_table t = { 0 };
	char *got;

	(void)state;
	/* nothing known yet: no targets, no counters, no filter, not paused */
	t.interval_s = 1;
	t.all = row(OA_METHOD_OTHER, "", 0, 0, 0);
	h.sort = TOP_COL_RATE;
	h.filter = "";
	got = text_of(&t, &h, 0);
	assert_string_equal(
		got,
		"otel-agent top: 0 target(s)  every 1.0 s; quantiles interpolated within buckets (histogram_quantile)\n"
		"requests: 0 total, 0.0/s, 0 active, 4xx -, 5xx -, errors 0 | agent: dropped 0, map errors 0, not HTTP 0, unmatched 0\n"
		"sort: req/s\n"
		"\n"
		"METHOD  ROUTE   REQ/S   TOTAL  4XX%  5XX% ERRORS     P50     P90     P99 ACTIVE\n");
	free(got);
}

static void test_json(void **state)
{
	static const char want[] =
		"{\"time\":1764645976.5,\"interval_s\":2,\"quantiles\":\"histogram_quantile\","
		"\"targets\":[{\"pid\":1234,\"name\":\"node\",\"service_name\":\"core-svc\"},"
		"{\"pid\":99,\"name\":null,\"service_name\":\"api\"}],"
		"\"totals\":{\"requests\":128,\"interval_requests\":24,\"rate\":12,\"active\":2,"
		"\"share_4xx\":0.125,\"share_5xx\":0,\"errors\":1,\"p50_s\":0.0025,\"p90_s\":0.0125,"
		"\"p99_s\":1.2},"
		"\"agent\":{\"requests_dropped\":3,\"map_update_errors\":3,\"not_http_connections\":4,"
		"\"unmatched_responses\":5},"
		"\"rows\":[{\"method\":\"GET\",\"route\":\"/hello\",\"overflow\":false,\"total\":120,"
		"\"interval_requests\":20,\"rate\":10,\"share_4xx\":0.05,\"share_5xx\":0,\"errors\":1,"
		"\"p50_s\":0.0025,\"p90_s\":0.0125,\"p99_s\":1.2,\"active\":2},"
		"{\"method\":\"POST\",\"route\":\"/users/{id}/orders/{order}\",\"overflow\":false,"
		"\"total\":5,\"interval_requests\":0,\"rate\":0,\"share_4xx\":null,\"share_5xx\":null,"
		"\"errors\":0,\"p50_s\":null,\"p90_s\":null,\"p99_s\":null,\"active\":0},"
		"{\"method\":\"_OTHER\",\"route\":\"\",\"overflow\":true,\"total\":3,"
		"\"interval_requests\":1,\"rate\":0.5,\"share_4xx\":0,\"share_5xx\":0,\"errors\":0,"
		"\"p50_s\":0.0004,\"p90_s\":0.0009,\"p99_s\":0.00099,\"active\":0}]}\n";
	struct top_table t = table;
	char *got;

	(void)state;
	got = json_of(&table, &header, 1764645976.5);
	assert_string_equal(got, want);
	free(got);
	/* no rate without an interval: null, as any number that is not finite */
	t.nr = 0;
	t.all.rate = NAN;
	t.all.p99 = INFINITY;
	got = json_of(&t, &header, 1);
	assert_non_null(strstr(got, "\"rate\":null,"));
	assert_non_null(strstr(got, "\"p99_s\":null}"));
	assert_non_null(strstr(got, "\"rows\":[]}\n"));
	free(got);
}

static void test_escaping(void **state)
{
	/* a quote, a backslash, a newline, \x01 and DEL, é in UTF-8, a byte that is not UTF-8 */
	static const char route[] = "/q\"u\\o\nt\x01\x7f\xc3\xa9\xff";
	static const char *const evil_names[] = { "\x1b[2J", NULL };
	struct oa_target evil_targets[1] = { { 7, "svc \"x\"" } };
	struct top_header h = header;
	struct top_row r = row(OA_METHOD_GET, route, 1, 1, 1);
	struct top_table t = { .rows = &r, .nr = 1, .interval_s = 1 };
	char *got;

	(void)state;
	t.all = r;
	h.targets = evil_targets;
	h.nr_targets = 1;
	h.target_names = evil_names;
	h.filter = "\x1b[31m";
	h.paused = false;
	got = json_of(&t, &h, 1);
	assert_non_null(strstr(
		got,
		"\"targets\":[{\"pid\":7,\"name\":\"\\u001b[2J\",\"service_name\":\"svc \\\"x\\\"\"}]"));
	assert_non_null(strstr(
		got, "\"route\":\"/q\\\"u\\\\o\\nt\\u0001\\u007f\xc3\xa9\\ufffd\",\"overflow\""));
	free(got);

	/* text: no byte a terminal would act on, the columns stay one byte each */
	got = text_of(&t, &h, 0);
	assert_string_equal(
		got,
		"otel-agent top: 1 target(s): 7 ?[2J (svc \"x\")  every 1.0 s; quantiles interpolated within buckets (histogram_quantile)\n"
		"requests: 1 total, 1.0/s, 0 active, 4xx -, 5xx -, errors 0 | agent: dropped 3, map errors 3, not HTTP 4, unmatched 5\n"
		"sort: p99 reversed  filter: ?[31m\n"
		"\n"
		"METHOD  ROUTE           REQ/S   TOTAL  4XX%  5XX% ERRORS     P50     P90     P99 ACTIVE\n"
		"GET     /q\"u\\o?t?????     1.0       1     -     -      0       -       -       -      0\n");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_width),
		cmocka_unit_test(test_text_header_parts),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_escaping),
	};

	return cmocka_run_group_tests_name("format", tests, setup, NULL);
}
