/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for src/render.c: hand-built snapshots rendered to memory and
 * checked line by line, then parsed back to check the exposition rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

#define NR_BOUNDS 15
#define NS	  1000000000ULL

/* The union of the OpenTelemetry and plugin bounds, as the loader configures the kernel. */
static const double bounds[NR_BOUNDS] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
					  0.5,	 0.75,	1,    2.5,   5,	   7.5,	  10 };

static const struct oa_target targets[] = { { 1234, "core" }, { 99, "worker" } };

#define OTEL_GET_X                                                                            \
	"{http_request_method=\"GET\",http_response_status_code=\"200\",url_scheme=\"http\"," \
	"network_protocol_version=\"1.1\",http_route=\"/api/users/{id}\""

static struct oa_series mk(__u8 method, __u16 status, __u8 version, const char *route)
{
	struct oa_series s;

	memset(&s, 0, sizeof(s));
	s.method = method;
	s.status = status;
	s.version = version;
	snprintf(s.route, sizeof(s.route), "%s", route);
	return s;
}

/* As the kernel counts: bucket i holds bounds[i-1] < d <= bounds[i]. */
static void observe(struct oa_series *s, __u64 ns)
{
	unsigned int i;

	for (i = 0; i < NR_BOUNDS && ns > (__u64)(bounds[i] * NS + 0.5); i++)
		;
	s->buckets[i]++;
	s->count++;
	s->sum_ns += ns;
}

static void init_snapshot(struct oa_snapshot *snap, struct oa_series *series, size_t n)
{
	memset(snap, 0, sizeof(*snap));
	snap->bounds = bounds;
	snap->nr_bounds = NR_BOUNDS;
	snap->series = series;
	snap->nr_series = n;
	snap->targets = targets;
	snap->nr_targets = 2;
	snap->host_name = "host-a";
	snap->version = "1.2.3";
}

static char *render(int (*fn)(const struct oa_snapshot *, FILE *), const struct oa_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	assert_non_null(f);
	ret = fn(s, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(ret, 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static int count_lines(const char *text, const char *line, int prefix)
{
	size_t n = strlen(line);
	const char *p;
	int count = 0;

	for (p = text; *p; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, line, n) && (prefix || p[n] == '\n'))
			count++;
		if (!strchr(p, '\n'))
			break;
	}
	return count;
}

#define assert_line(text, line)                                                              \
	do {                                                                                 \
		if (count_lines(text, line, 0) != 1)                                         \
			fail_msg("line not found once: %s\n--- output ---\n%s", line, text); \
	} while (0)

/* Histogram samples of one family: the label set without le, and what was seen. */
struct hist_seen {
	char key[512];
	unsigned long long last, inf;
	int has_inf, has_count;
};

/*
 * Reads the exposition back: HELP then TYPE once per family, samples only
 * under their own family and contiguous, buckets non-decreasing, +Inf equal
 * to _count. Returns the number of samples.
 */
static int check_exposition(const char *text)
{
	char fams[64][128], fam[128] = "", type[32] = "";
	struct hist_seen *h = calloc(512, sizeof(*h));
	int nfams = 0, nh = 0, samples = 0, i;
	const char *p, *help_for = NULL;

	assert_non_null(h);
	for (p = text; *p;) {
		const char *eol = strchr(p, '\n');
		char line[1024], name[256], *brace, *sp;
		size_t n;

		assert_non_null(eol);
		n = eol - p;
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = eol + 1;

		if (!strncmp(line, "# HELP ", 7)) {
			help_for = p;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line, "# TYPE %127s %31s", fam, type), 2);
			assert_true(help_for != NULL);
			for (i = 0; i < nfams; i++)
				if (!strcmp(fams[i], fam))
					fail_msg("family twice: %s", fam);
			assert_true(nfams < 64);
			strcpy(fams[nfams++], fam);
			help_for = NULL;
			continue;
		}
		assert_true(line[0] != '#');
		samples++;
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		*sp = '\0';
		brace = strchr(line, '{');
		n = brace ? (size_t)(brace - line) : strlen(line);
		memcpy(name, line, n);
		name[n] = '\0';
		if (strcmp(type, "histogram")) {
			if (strcmp(name, fam))
				fail_msg("sample %s outside its family %s", name, fam);
			continue;
		}
		{
			size_t fl = strlen(fam);
			const char *suffix = name + fl;
			unsigned long long v = strtoull(sp + 1, NULL, 10);
			char key[512], *le;
			struct hist_seen *e = NULL;

			if (strncmp(name, fam, fl) ||
			    (strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") &&
			     strcmp(suffix, "_count")))
				fail_msg("sample %s outside its family %s", name, fam);
			snprintf(key, sizeof(key), "%s%s", fam, brace ? brace : "");
			le = strstr(key, "le=\"");
			if (le) {
				/* le is the last label: cut it to get the series key. */
				if (le[-1] == ',')
					le[-1] = '}';
				else
					le[-1] = '\0';
				le[0] = '\0';
			}
			for (i = 0; i < nh; i++)
				if (!strcmp(h[i].key, key))
					e = &h[i];
			if (!e) {
				assert_true(nh < 512);
				e = &h[nh++];
				strcpy(e->key, key);
			}
			if (!strcmp(suffix, "_bucket")) {
				assert_non_null(strstr(line, "le=\""));
				assert_false(e->has_inf);
				if (v < e->last)
					fail_msg("bucket decreases: %s", line);
				e->last = v;
				if (strstr(line, "le=\"+Inf\"")) {
					e->has_inf = 1;
					e->inf = v;
				}
			} else if (!strcmp(suffix, "_count")) {
				assert_true(e->has_inf);
				assert_int_equal(v, e->inf);
				e->has_count = 1;
			}
		}
	}
	for (i = 0; i < nh; i++)
		assert_true(h[i].has_inf && h[i].has_count);
	free(h);
	return samples;
}

/* 0.5ms 3ms 5ms 20ms 300ms 2s 20s: one in each interesting bucket, 5ms on a bound. */
static struct oa_series known_series(void)
{
	static const __u64 ns[] = {
		500000, 3000000, 5000000, 20000000, 300000000, 2 * NS, 20 * NS
	};
	struct oa_series s = mk(OA_METHOD_GET, 200, OA_HTTP_11, "/api/users/{id}");
	size_t i;

	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		observe(&s, ns[i]);
	return s;
}

static void test_otel_cumulative(void **state)
{
	static const char *const want[] = {
		"0.005\"} 3", "0.01\"} 3", "0.025\"} 4", "0.05\"} 4", "0.075\"} 4",
		"0.1\"} 4",   "0.25\"} 4", "0.5\"} 5",	 "0.75\"} 5", "1\"} 5",
		"2.5\"} 6",   "5\"} 6",	   "7.5\"} 6",	 "10\"} 6",   "+Inf\"} 7",
	};
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char line[512], *text;
	size_t i;

	(void)state;
	init_snapshot(&snap, &s, 1);
	text = render(render_otel, &snap);
	assert_line(
		text,
		"# HELP http_server_request_duration_seconds Duration of HTTP server requests.");
	assert_line(text, "# TYPE http_server_request_duration_seconds histogram");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(line, sizeof(line),
			 "http_server_request_duration_seconds_bucket" OTEL_GET_X ",le=\"%s",
			 want[i]);
		assert_line(text, line);
	}
	assert_line(text, "http_server_request_duration_seconds_sum" OTEL_GET_X "} 22.3285");
	assert_line(text, "http_server_request_duration_seconds_count" OTEL_GET_X "} 7");
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_bucket", 1), 15);
	assert_int_equal(count_lines(text, "http_request", 1), 0);
	check_exposition(text);
	free(text);
}

static void test_plugin_cumulative(void **state)
{
	static const char *const want[] = {
		"0.001\"} 1", "0.005\"} 3", "0.01\"} 3", "0.05\"} 4", "0.1\"} 4",
		"0.5\"} 5",   "1\"} 5",	    "5\"} 6",	 "10\"} 6",   "+Inf\"} 7",
	};
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char line[512], *text;
	size_t i;

	(void)state;
	init_snapshot(&snap, &s, 1);
	text = render(render_plugin, &snap);
	assert_line(text, "# TYPE http_requests_total counter");
	assert_line(
		text,
		"http_requests_total{method=\"GET\",path=\"/api/users/{id}\",status=\"200\"} 7");
	assert_line(text, "# TYPE http_request_duration_seconds histogram");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(
			line, sizeof(line),
			"http_request_duration_seconds_bucket{method=\"GET\",path=\"/api/users/{id}\","
			"le=\"%s",
			want[i]);
		assert_line(text, line);
	}
	assert_line(
		text,
		"http_request_duration_seconds_sum{method=\"GET\",path=\"/api/users/{id}\"} 22.3285");
	assert_line(
		text,
		"http_request_duration_seconds_count{method=\"GET\",path=\"/api/users/{id}\"} 7");
	assert_line(text, "# TYPE http_request_errors_total counter");
	assert_int_equal(count_lines(text, "http_request_errors_total{", 1), 0);
	assert_int_equal(count_lines(text, "http_server_", 1), 0);
	check_exposition(text);
	free(text);
}

static __u32 lcg(__u64 *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (__u32)(*x >> 33);
}

static void test_many_series_parse_back(void **state)
{
	static const __u16 statuses[] = { 200, 201, 404, 500, 503 };
	struct oa_series *s = calloc(60, sizeof(*s));
	struct oa_snapshot snap;
	__u64 x = 42;
	char route[32], *text;
	size_t i, j;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < 60; i++) {
		snprintf(route, sizeof(route), "/r/%zu", i % 7);
		s[i] = mk(lcg(&x) % (OA_METHOD_COUNT + 2), statuses[lcg(&x) % 5],
			  (i % 3) ? OA_HTTP_11 : OA_HTTP_10, route);
		for (j = 0; j < 50; j++)
			observe(&s[i], (__u64)lcg(&x) * 5 % (12 * NS));
	}
	init_snapshot(&snap, s, 60);

	text = render(render_otel, &snap);
	assert_true(check_exposition(text) > 20 * 17);
	assert_int_equal(count_lines(text, "# HELP http_server_request_duration_seconds ", 1), 1);
	assert_int_equal(count_lines(text, "# TYPE http_server_request_duration_seconds ", 1), 1);
	assert_int_equal(count_lines(text, "# HELP target_info ", 1), 1);
	free(text);

	text = render(render_plugin, &snap);
	check_exposition(text);
	assert_int_equal(count_lines(text, "# HELP http_requests_total ", 1), 1);
	assert_int_equal(count_lines(text, "# TYPE http_requests_total ", 1), 1);
	assert_int_equal(count_lines(text, "# HELP http_request_duration_seconds ", 1), 1);
	assert_int_equal(count_lines(text, "# TYPE http_request_duration_seconds ", 1), 1);
	assert_int_equal(count_lines(text, "# HELP http_request_errors_total ", 1), 1);
	assert_int_equal(count_lines(text, "# TYPE http_request_errors_total ", 1), 1);
	free(text);
	free(s);
}

static void test_escaping(void **state)
{
	struct oa_target t = { 7, "we\"ird\\svc\nname" };
	struct oa_series s = mk(OA_METHOD_GET, 200, OA_HTTP_11, "/a\"b\\c\nd");
	struct oa_snapshot snap;
	char *text;

	(void)state;
	observe(&s, NS / 100);
	init_snapshot(&snap, &s, 1);
	snap.targets = &t;
	snap.nr_targets = 1;
	snap.version = "v\"1";

	text = render(render_otel, &snap);
	assert_line(text, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
			  "http_response_status_code=\"200\",url_scheme=\"http\","
			  "network_protocol_version=\"1.1\",http_route=\"/a\\\"b\\\\c\\nd\"} 1");
	assert_line(text, "target_info{service_name=\"we\\\"ird\\\\svc\\nname\",process_pid=\"7\","
			  "host_name=\"host-a\"} 1");
	assert_line(text, "otel_agent_build_info{version=\"v\\\"1\"} 1");
	check_exposition(text);
	free(text);

	text = render(render_plugin, &snap);
	assert_line(
		text,
		"http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 1");
	check_exposition(text);
	free(text);
}

static void test_plugin_sums_statuses(void **state)
{
	struct oa_series s[3] = {
		mk(OA_METHOD_GET, 404, OA_HTTP_11, "/x"),
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/x"),
		mk(OA_METHOD_GET, 200, OA_HTTP_10, "/x"),
	};
	struct oa_snapshot snap;
	char *text;

	(void)state;
	observe(&s[0], NS / 1000); /* 1ms, on the 0.001 bound */
	observe(&s[0], NS / 1000);
	observe(&s[1], 2 * NS);
	observe(&s[1], 2 * NS);
	observe(&s[1], 7 * NS / 1000);
	observe(&s[2], NS / 2);
	init_snapshot(&snap, s, 3);

	text = render(render_plugin, &snap);
	assert_line(text, "http_requests_total{method=\"GET\",path=\"/x\",status=\"200\"} 4");
	assert_line(text, "http_requests_total{method=\"GET\",path=\"/x\",status=\"404\"} 2");
	assert_int_equal(count_lines(text, "http_requests_total{", 1), 2);
	/* One histogram for (GET, /x): status and version are not plugin labels. */
	assert_int_equal(count_lines(text, "http_request_duration_seconds_count{", 1), 1);
	assert_line(text, "http_request_duration_seconds_count{method=\"GET\",path=\"/x\"} 6");
	assert_line(text, "http_request_duration_seconds_sum{method=\"GET\",path=\"/x\"} 4.509");
	assert_line(
		text,
		"http_request_duration_seconds_bucket{method=\"GET\",path=\"/x\",le=\"0.001\"} 2");
	assert_line(
		text,
		"http_request_duration_seconds_bucket{method=\"GET\",path=\"/x\",le=\"0.01\"} 3");
	assert_line(
		text,
		"http_request_duration_seconds_bucket{method=\"GET\",path=\"/x\",le=\"0.5\"} 4");
	assert_line(text,
		    "http_request_duration_seconds_bucket{method=\"GET\",path=\"/x\",le=\"5\"} 6");
	check_exposition(text);
	free(text);

	/* The OpenTelemetry endpoint keeps all three apart. */
	text = render(render_otel, &snap);
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_count{", 1), 3);
	assert_int_equal(count_lines(text,
				     "http_server_request_duration_seconds_count{"
				     "http_request_method=\"GET\",http_response_status_code="
				     "\"200\",url_scheme=\"http\",network_protocol_version=\"1.0\"",
				     1),
			 1);
	check_exposition(text);
	free(text);
}

/* Requests that ended without a response: no status, error_type names how they ended. */
static void test_connection_errors(void **state)
{
	struct oa_series s[3] = {
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/slow"),
		mk(OA_METHOD_GET, 0, OA_HTTP_11, "/slow"),
		mk(OA_METHOD_GET, 0, OA_HTTP_11, "/slow"),
	};
	struct oa_snapshot snap;
	char *text;

	(void)state;
	s[1].error = OA_CONN_CLOSED;
	s[2].error = OA_CONN_RESET;
	observe(&s[0], NS / 10);
	observe(&s[1], NS / 100);
	observe(&s[1], NS / 100);
	observe(&s[2], NS / 1000);
	init_snapshot(&snap, s, 3);

	text = render(render_otel, &snap);
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"GET\","
		    "url_scheme=\"http\",network_protocol_version=\"1.1\",http_route=\"/slow\","
		    "error_type=\"connection_closed\"} 2");
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"GET\","
		    "url_scheme=\"http\",network_protocol_version=\"1.1\",http_route=\"/slow\","
		    "error_type=\"connection_reset\"} 1");
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_count{", 1), 3);
	check_exposition(text);
	free(text);

	text = render(render_plugin, &snap);
	/* not requests with a status, not in the duration histogram; errors by kind */
	assert_int_equal(count_lines(text, "http_requests_total{", 1), 1);
	assert_line(text, "http_requests_total{method=\"GET\",path=\"/slow\",status=\"200\"} 1");
	assert_line(text, "http_request_duration_seconds_count{method=\"GET\",path=\"/slow\"} 1");
	assert_line(text, "http_request_errors_total{method=\"GET\",path=\"/slow\","
			  "errorType=\"connection_closed\"} 2");
	assert_line(text, "http_request_errors_total{method=\"GET\",path=\"/slow\","
			  "errorType=\"connection_reset\"} 1");
	check_exposition(text);
	free(text);

	/* a route with only unanswered requests has no plugin histogram at all */
	init_snapshot(&snap, &s[1], 2);
	text = render(render_plugin, &snap);
	assert_int_equal(count_lines(text, "http_request_duration_seconds_count{", 1), 0);
	assert_int_equal(count_lines(text, "http_request_errors_total{", 1), 2);
	check_exposition(text);
	free(text);
}

static void test_errors_only_5xx(void **state)
{
	struct oa_series s[5] = {
		mk(OA_METHOD_POST, 200, OA_HTTP_11, "/e"),
		mk(OA_METHOD_POST, 404, OA_HTTP_11, "/e"),
		mk(OA_METHOD_POST, 500, OA_HTTP_11, "/e"),
		mk(OA_METHOD_POST, 503, OA_HTTP_11, "/e"),
		mk(OA_METHOD_POST, 503, OA_HTTP_10, "/e"),
	};
	struct oa_snapshot snap;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		observe(&s[i], NS / 10);
	init_snapshot(&snap, s, 5);

	text = render(render_plugin, &snap);
	assert_int_equal(count_lines(text, "http_request_errors_total{", 1), 2);
	assert_line(text,
		    "http_request_errors_total{method=\"POST\",path=\"/e\",errorType=\"500\"} 1");
	assert_line(text,
		    "http_request_errors_total{method=\"POST\",path=\"/e\",errorType=\"503\"} 2");
	check_exposition(text);
	free(text);

	text = render(render_otel, &snap);
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_count{", 1), 5);
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"POST\","
		    "http_response_status_code=\"500\",url_scheme=\"http\","
		    "network_protocol_version=\"1.1\",http_route=\"/e\",error_type=\"500\"} 1");
	assert_line(text, "http_server_request_duration_seconds_count{http_request_method=\"POST\","
			  "http_response_status_code=\"404\",url_scheme=\"http\","
			  "network_protocol_version=\"1.1\",http_route=\"/e\"} 1");
	/* 2 + 15 samples per series carry the label, for the 500 and two 503 series. */
	{
		const char *p = text;
		int n = 0;

		while ((p = strstr(p, "error_type=\"")) != NULL) {
			assert_true(p[12] == '5');
			n++;
			p++;
		}
		assert_int_equal(n, 3 * 17);
	}
	check_exposition(text);
	free(text);
}

static void test_other_method_and_version(void **state)
{
	struct oa_series s[3] = {
		mk(OA_METHOD_OTHER, 200, OA_HTTP_11, "/y"),
		mk(OA_METHOD_COUNT + 5, 200, OA_HTTP_11, "/y"), /* out of range: also _OTHER */
		mk(OA_METHOD_DELETE, 204, 0, "/y"),
	};
	struct oa_snapshot snap;
	char *text;

	(void)state;
	observe(&s[0], NS / 100);
	observe(&s[1], NS / 100);
	observe(&s[2], NS / 100);
	init_snapshot(&snap, s, 3);

	text = render(render_plugin, &snap);
	assert_line(text, "http_requests_total{method=\"_OTHER\",path=\"/y\",status=\"200\"} 2");
	assert_line(text, "http_requests_total{method=\"DELETE\",path=\"/y\",status=\"204\"} 1");
	check_exposition(text);
	free(text);

	text = render(render_otel, &snap);
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"_OTHER\","
		    "http_response_status_code=\"200\",url_scheme=\"http\","
		    "network_protocol_version=\"1.1\",http_route=\"/y\"} 2");
	/* Version unknown: the label is left out, not empty. */
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"DELETE\","
		    "http_response_status_code=\"204\",url_scheme=\"http\",http_route=\"/y\"} 1");
	check_exposition(text);
	free(text);
}

static int render_fails(int (*fn)(const struct oa_snapshot *, FILE *), const struct oa_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	assert_non_null(f);
	errno = 0;
	ret = fn(s, f);
	assert_int_equal(fclose(f), 0);
	/* Nothing is written before the bounds are checked. */
	if (ret)
		assert_int_equal(len, 0);
	free(text);
	return ret ? errno : 0;
}

static void test_missing_bound(void **state)
{
	double no_ms[NR_BOUNDS - 1], no_7_5[NR_BOUNDS - 1], close[NR_BOUNDS];
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char *text;

	(void)state;
	memcpy(no_ms, bounds + 1, sizeof(no_ms));
	memcpy(no_7_5, bounds, 13 * sizeof(double));
	no_7_5[13] = 10;
	init_snapshot(&snap, &s, 1);

	snap.bounds = no_ms;
	snap.nr_bounds = NR_BOUNDS - 1;
	assert_int_equal(render_fails(render_plugin, &snap), EINVAL);
	assert_int_equal(render_fails(render_otel, &snap), 0);

	snap.bounds = no_7_5;
	assert_int_equal(render_fails(render_otel, &snap), EINVAL);
	assert_int_equal(render_fails(render_plugin, &snap), 0);

	/* Within 1e-12 relative still matches, and prints the endpoint's own value. */
	memcpy(close, bounds, sizeof(close));
	close[6] = 0.1 * (1 + 1e-14);
	snap.bounds = close;
	snap.nr_bounds = NR_BOUNDS;
	text = render(render_otel, &snap);
	assert_int_equal(count_lines(text,
				     "http_server_request_duration_seconds_bucket" OTEL_GET_X
				     ",le=\"0.1\"} 4",
				     0),
			 1);
	free(text);
	close[6] = 0.1 * (1 + 1e-9);
	assert_int_equal(render_fails(render_otel, &snap), EINVAL);

	/* Too many bounds, or not ascending, is a malformed snapshot. */
	snap.bounds = bounds;
	snap.nr_bounds = OA_MAX_BOUNDS + 1;
	assert_int_equal(render_fails(render_otel, &snap), EINVAL);
	memcpy(close, bounds, sizeof(close));
	close[3] = close[4];
	snap.bounds = close;
	snap.nr_bounds = NR_BOUNDS;
	assert_int_equal(render_fails(render_plugin, &snap), EINVAL);
}

static void test_empty_and_self_metrics(void **state)
{
	static const char last[] = "otel_agent_map_update_errors_total{map=\"reqs\"} 0\n";
	struct oa_snapshot snap;
	char *text;
	int i;

	(void)state;
	init_snapshot(&snap, NULL, 0);
	snap.events[OA_EV_REQUESTS] = 10;
	snap.events[OA_EV_RESPONSES] = 9;
	snap.events[OA_EV_UNMATCHED_RESPONSES] = 3;
	snap.events[OA_EV_REQUEST_REPLACED] = 2;
	snap.events[OA_EV_PATH_TRUNCATED] = 18446744073709551615ULL;
	snap.map_errors[OA_ERR_SERIES] = 5;
	snap.events[OA_EV_NOT_HTTP] = 4;
	snap.events[OA_EV_UPGRADED] = 5;
	snap.events[OA_EV_CONN_ERRORS] = 6;
	snap.events[OA_EV_STALE_RECLAIMED] = 7;
	snap.events[OA_EV_TARGETS_ADDED] = 8;

	for (i = 0; i < 2; i++) {
		text = render(i ? render_plugin : render_otel, &snap);
		assert_line(text, "# TYPE otel_agent_build_info gauge");
		assert_line(text, "otel_agent_build_info{version=\"1.2.3\"} 1");
		assert_line(text, "# TYPE otel_agent_targets gauge");
		assert_line(text, "otel_agent_targets 2");
		assert_line(text, "# TYPE otel_agent_requests_total counter");
		assert_line(text, "otel_agent_requests_total 10");
		assert_line(text, "otel_agent_responses_total 9");
		assert_line(text, "otel_agent_unmatched_responses_total 3");
		assert_line(text, "otel_agent_requests_dropped_total 2");
		assert_line(text, "otel_agent_not_http_connections_total 4");
		assert_line(text, "otel_agent_upgraded_connections_total 5");
		assert_line(text, "otel_agent_connection_errors_total 6");
		assert_line(text, "otel_agent_stale_connections_reclaimed_total 7");
		assert_line(text, "otel_agent_targets_added_total 8");
		assert_line(text, "otel_agent_paths_truncated_total 18446744073709551615");
		assert_line(text, "# TYPE otel_agent_map_update_errors_total counter");
		assert_line(text, "otel_agent_map_update_errors_total{map=\"conns\"} 0");
		assert_line(text, "otel_agent_map_update_errors_total{map=\"series\"} 5");
		assert_line(text, "otel_agent_map_update_errors_total{map=\"io_args\"} 0");
		assert_line(text, "otel_agent_map_update_errors_total{map=\"targets\"} 0");
		assert_line(text, "otel_agent_map_update_errors_total{map=\"reqs\"} 0");
		assert_int_equal(count_lines(text, "# HELP ", 1), count_lines(text, "# TYPE ", 1));
		if (i) {
			assert_line(text, "# TYPE http_requests_total counter");
			assert_line(text, "# TYPE http_request_duration_seconds histogram");
			assert_line(text, "# TYPE http_request_errors_total counter");
			assert_int_equal(count_lines(text, "http_", 1), 0);
		} else {
			assert_line(text, "# TYPE http_server_request_duration_seconds histogram");
			assert_int_equal(count_lines(text, "http_", 1), 0);
			assert_line(text, "# HELP target_info Target metadata");
			assert_line(text, "target_info{service_name=\"core\",process_pid=\"1234\","
					  "host_name=\"host-a\"} 1");
			assert_line(text, "target_info{service_name=\"worker\",process_pid=\"99\","
					  "host_name=\"host-a\"} 1");
		}
		/* The self-metrics close both endpoints. */
		assert_string_equal(text + strlen(text) - strlen(last), last);
		check_exposition(text);
		free(text);
	}
}

static void test_sum_formatting(void **state)
{
	static const struct {
		__u64 ns;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 1, "1e-09" },
		{ 100000000, "0.1" },
		{ 333333333, "0.333333333" },
		{ 123456789012ULL, "123.456789012" },
		{ 18446744073709551615ULL, "18446744073.709553" },
	};
	struct oa_series s = mk(OA_METHOD_GET, 200, OA_HTTP_11, "/");
	struct oa_snapshot snap;
	char line[256], *text, *p;
	size_t i;

	(void)state;
	init_snapshot(&snap, &s, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.sum_ns = cases[i].ns;
		text = render(render_plugin, &snap);
		snprintf(line, sizeof(line),
			 "http_request_duration_seconds_sum{method=\"GET\",path=\"/\"} %s",
			 cases[i].want);
		assert_line(text, line);
		/* And it reads back as the same double. */
		p = strstr(text, "_sum{");
		p = strchr(p, ' ');
		assert_true(strtod(p + 1, NULL) == (double)cases[i].ns / 1e9);
		free(text);
	}
}

static void test_stable_order(void **state)
{
	struct oa_series a[4] = {
		mk(OA_METHOD_POST, 200, OA_HTTP_11, "/b"),
		mk(OA_METHOD_GET, 500, OA_HTTP_11, "/b"),
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/b"),
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/a"),
	};
	struct oa_series b[4] = { a[3], a[1], a[0], a[2] };
	struct oa_snapshot sa, sb;
	char *ta, *tb;
	const char *p1, *p2, *p3, *p4;

	(void)state;
	init_snapshot(&sa, a, 4);
	init_snapshot(&sb, b, 4);
	ta = render(render_plugin, &sa);
	tb = render(render_plugin, &sb);
	assert_string_equal(ta, tb);
	p1 = strstr(ta, "http_requests_total{method=\"GET\",path=\"/a\",status=\"200\"}");
	p2 = strstr(ta, "http_requests_total{method=\"GET\",path=\"/b\",status=\"200\"}");
	p3 = strstr(ta, "http_requests_total{method=\"GET\",path=\"/b\",status=\"500\"}");
	p4 = strstr(ta, "http_requests_total{method=\"POST\",path=\"/b\",status=\"200\"}");
	assert_true(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
	free(ta);
	free(tb);

	ta = render(render_otel, &sa);
	tb = render(render_otel, &sb);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otel_cumulative),
		cmocka_unit_test(test_plugin_cumulative),
		cmocka_unit_test(test_many_series_parse_back),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_plugin_sums_statuses),
		cmocka_unit_test(test_errors_only_5xx),
		cmocka_unit_test(test_connection_errors),
		cmocka_unit_test(test_other_method_and_version),
		cmocka_unit_test(test_missing_bound),
		cmocka_unit_test(test_empty_and_self_metrics),
		cmocka_unit_test(test_sum_formatting),
		cmocka_unit_test(test_stable_order),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
