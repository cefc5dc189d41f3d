/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for src/expose (render.h): hand-built snapshots rendered to memory and
 * checked line by line, then parsed back to check the exposition rules (of
 * Prometheus text and of OpenMetrics), target_info among them (the
 * resources themselves are tested in tests/unit/targets/test_resource.c).
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
#include <unistd.h>

#include "expose/render.h"
#include "targets/resource.h"

#define NR_BOUNDS 15
#define NS	  1000000000ULL

/* The union of the OpenTelemetry and plugin bounds, as the loader configures the kernel. */
static const double bounds[NR_BOUNDS] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
					  0.5,	 0.75,	1,    2.5,   5,	   7.5,	  10 };

static const struct oa_target targets[] = { { 1234, "core" }, { 99, "worker" } };

/* The scope labels of the OpenTelemetry families, for version 1.2.3. */
#define SCOPE ",otel_scope_name=\"otel-agent\",otel_scope_version=\"1.2.3\""

#define OTEL_GET_X                                                                            \
	"{http_request_method=\"GET\",http_response_status_code=\"200\",url_scheme=\"http\"," \
	"network_protocol_version=\"1.1\",http_route=\"/api/users/{id}\"" SCOPE

/* /metrics/otel in Prometheus text, as render() and render_fails() take an endpoint. */
static int render_otel(const struct oa_snapshot *s, FILE *out)
{
	return render_otel_as(s, OA_FORMAT_PROMETHEUS, out);
}

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
	s->stats.buckets[i]++;
	s->stats.count++;
	s->stats.sum_ns += ns;
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
	snap->body_sizes = true;
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
			  "network_protocol_version=\"1.1\",http_route=\"/a\\\"b\\\\c\\nd\","
			  "otel_scope_name=\"otel-agent\",otel_scope_version=\"v\\\"1\"} 1");
	assert_line(text, "target_info{host_name=\"host-a\",process_pid=\"7\","
			  "service_name=\"we\\\"ird\\\\svc\\nname\"} 1");
	assert_line(text, "otel_agent_build_info{version=\"v\\\"1\"} 1");
	check_exposition(text);
	free(text);

	/* the build of the BPF programs loaded, when the snapshot names it */
	snap.programs = "compat";
	text = render(render_otel, &snap);
	assert_line(text, "otel_agent_build_info{version=\"v\\\"1\",bpf_programs=\"compat\"} 1");
	check_exposition(text);
	free(text);
	snap.programs = NULL;

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
		    "error_type=\"connection_closed\"" SCOPE "} 2");
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"GET\","
		    "url_scheme=\"http\",network_protocol_version=\"1.1\",http_route=\"/slow\","
		    "error_type=\"connection_reset\"" SCOPE "} 1");
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
		    "network_protocol_version=\"1.1\",http_route=\"/e\",error_type=\"500\"" SCOPE
		    "} 1");
	assert_line(text, "http_server_request_duration_seconds_count{http_request_method=\"POST\","
			  "http_response_status_code=\"404\",url_scheme=\"http\","
			  "network_protocol_version=\"1.1\",http_route=\"/e\"" SCOPE "} 1");
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
		    "network_protocol_version=\"1.1\",http_route=\"/y\"" SCOPE "} 2");
	/* Version unknown: the label is left out, not empty. */
	assert_line(text,
		    "http_server_request_duration_seconds_count{http_request_method=\"DELETE\","
		    "http_response_status_code=\"204\",url_scheme=\"http\",http_route=\"/y\"" SCOPE
		    "} 1");
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
	ret = fn(s, f);
	assert_int_equal(fclose(f), 0);
	/* Nothing is written before the bounds are checked. */
	if (ret)
		assert_int_equal(len, 0);
	free(text);
	return ret;
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
	assert_int_equal(render_fails(render_plugin, &snap), -EINVAL);
	assert_int_equal(render_fails(render_otel, &snap), 0);

	snap.bounds = no_7_5;
	assert_int_equal(render_fails(render_otel, &snap), -EINVAL);
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
	assert_int_equal(render_fails(render_otel, &snap), -EINVAL);

	/* Too many bounds, or not ascending, is a malformed snapshot. */
	snap.bounds = bounds;
	snap.nr_bounds = OA_MAX_BOUNDS + 1;
	assert_int_equal(render_fails(render_otel, &snap), -EINVAL);
	memcpy(close, bounds, sizeof(close));
	close[3] = close[4];
	snap.bounds = close;
	snap.nr_bounds = NR_BOUNDS;
	assert_int_equal(render_fails(render_plugin, &snap), -EINVAL);
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
	snap.events[OA_EV_REQUESTS_DROPPED] = 2;
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
			assert_line(text, "target_info{host_name=\"host-a\",process_pid=\"1234\","
					  "service_name=\"core\"} 1");
			assert_line(text, "target_info{host_name=\"host-a\",process_pid=\"99\","
					  "service_name=\"worker\"} 1");
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
		s.stats.sum_ns = cases[i].ns;
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

static char *render_om(const struct oa_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(render_otel_as(s, OA_FORMAT_OPENMETRICS, f), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* The OpenMetrics suffixes a family's samples may have, by type. */
static int om_sample_ok(const char *fam, const char *type, const char *name)
{
	static const char *const hist[] = { "_bucket", "_sum", "_count", "_created", NULL };
	static const char *const counter[] = { "_total", "_created", NULL };
	static const char *const info[] = { "_info", NULL };
	const char *const *sfx = !strcmp(type, "histogram") ? hist
				 : !strcmp(type, "counter") ? counter
				 : !strcmp(type, "info")    ? info
							    : NULL;
	size_t n = strlen(fam);

	if (!sfx)
		return !strcmp(name, fam);
	if (strncmp(name, fam, n))
		return 0;
	for (; *sfx; sfx++)
		if (!strcmp(name + n, *sfx))
			return 1;
	return 0;
}

/*
 * OpenMetrics rules on top of check_exposition's: TYPE, then UNIT (a
 * suffix of the name), then HELP, once per family and before its samples;
 * samples named by their family's type; "# EOF" last. Returns the number of
 * families.
 */
static int check_openmetrics(const char *text)
{
	char fams[64][128], fam[128] = "", type[32] = "", arg[128];
	int nfams = 0, i, stage = 0; /* 1 TYPE, 2 UNIT, 3 HELP, 4 samples */
	const char *p, *eof = strstr(text, "# EOF\n");

	assert_non_null(eof);
	assert_string_equal(eof, "# EOF\n");
	for (p = text; p < eof;) {
		const char *eol = strchr(p, '\n');
		char line[1024], name[256];
		size_t n = (size_t)(eol - p);

		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = eol + 1;
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line, "# TYPE %127s %31s", fam, type), 2);
			for (i = 0; i < nfams; i++)
				if (!strcmp(fams[i], fam))
					fail_msg("family twice: %s", fam);
			assert_true(nfams < 64);
			strcpy(fams[nfams++], fam);
			stage = 1;
			continue;
		}
		if (!strncmp(line, "# UNIT ", 7)) {
			assert_int_equal(sscanf(line, "# UNIT %255s %127s", name, arg), 2);
			assert_string_equal(name, fam);
			assert_int_equal(stage, 1);
			snprintf(name, sizeof(name), "_%s", arg);
			if (strlen(fam) <= strlen(name) ||
			    strcmp(fam + strlen(fam) - strlen(name), name))
				fail_msg("unit %s is not the suffix of %s", arg, fam);
			stage = 2;
			continue;
		}
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line, "# HELP %255s", name), 1);
			assert_string_equal(name, fam);
			assert_true(stage == 1 || stage == 2);
			stage = 3;
			continue;
		}
		if (line[0] == '#')
			fail_msg("not an OpenMetrics line: %s", line);
		assert_true(stage >= 3);
		stage = 4;
		n = strcspn(line, "{ ");
		memcpy(name, line, n);
		name[n] = '\0';
		if (!om_sample_ok(fam, type, name))
			fail_msg("sample %s not of %s family %s", name, type, fam);
		if (strstr(line, "le=\""))
			assert_string_equal(type, "histogram");
	}
	return nfams;
}

static void test_openmetrics(void **state)
{
	static const char *const le[] = { "0.005", "0.01", "0.025", "0.05", "0.075",
					  "0.1",   "0.25", "0.5",   "0.75", "1.0",
					  "2.5",   "5.0",  "7.5",   "10.0", "+Inf" };
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char line[512], *text;
	size_t i;

	(void)state;
	init_snapshot(&snap, &s, 1);
	snap.events[OA_EV_REQUESTS] = 10;
	snap.series_overflowed = 3;
	text = render_om(&snap);
	assert_line(text, "# TYPE target info");
	assert_line(text, "# HELP target Target metadata");
	assert_line(
		text,
		"target_info{host_name=\"host-a\",process_pid=\"1234\",service_name=\"core\"} 1");
	assert_line(text, "# TYPE http_server_request_duration_seconds histogram");
	assert_line(text, "# UNIT http_server_request_duration_seconds seconds");
	assert_line(
		text,
		"# HELP http_server_request_duration_seconds Duration of HTTP server requests.");
	/* le in OpenMetrics' canonical form: 1.0, not 1 */
	for (i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
		snprintf(line, sizeof(line),
			 "http_server_request_duration_seconds_bucket" OTEL_GET_X ",le=\"%s\"}",
			 le[i]);
		assert_int_equal(count_lines(text, line, 1), 1);
	}
	assert_line(text, "http_server_request_duration_seconds_count" OTEL_GET_X "} 7");
	/* counters are named without _total, their samples with it */
	assert_line(text, "# TYPE otel_agent_requests counter");
	assert_line(text, "# HELP otel_agent_requests HTTP request lines recognised.");
	assert_line(text, "otel_agent_requests_total 10");
	assert_line(text, "# TYPE otel_agent_series_overflowed counter");
	assert_line(text, "otel_agent_series_overflowed_total 3");
	assert_line(text, "# TYPE otel_agent_map_update_errors counter");
	assert_line(text, "# TYPE otel_agent_build info");
	assert_line(text, "otel_agent_build_info{version=\"1.2.3\"} 1");
	assert_line(text, "# TYPE otel_agent_targets gauge");
	assert_int_equal(count_lines(text, "# TYPE otel_agent_requests_total", 1), 0);
	assert_int_equal(count_lines(text, "# HELP otel_agent_requests_total", 1), 0);
	/* 27 families: target_info, the server's 4, the client's 3, 19 self-metrics */
	assert_int_equal(check_openmetrics(text), 27);
	free(text);

	/* No series at all is still a whole exposition. */
	init_snapshot(&snap, NULL, 0);
	snap.nr_targets = 0;
	text = render_om(&snap);
	assert_int_equal(count_lines(text, "target_info", 1), 0);
	assert_int_equal(check_openmetrics(text), 27);
	free(text);

	/* The Prometheus text of the same snapshot has no UNIT, info or EOF. */
	text = render(render_otel, &snap);
	assert_int_equal(count_lines(text, "# UNIT ", 1), 0);
	assert_int_equal(count_lines(text, "# EOF", 1), 0);
	assert_line(text, "# TYPE target_info gauge");
	assert_line(text, "# TYPE otel_agent_build_info gauge");
	assert_line(text, "# TYPE otel_agent_requests_total counter");
	free(text);
}

/* Scope labels on the OpenTelemetry families only; /metrics keeps the plugin's label sets. */
static void test_scope_labels(void **state)
{
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char *text;

	(void)state;
	init_snapshot(&snap, &s, 1);
	text = render(render_otel, &snap);
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_", 1), 17);
	assert_int_equal(
		count_lines(text,
			    "http_server_request_duration_seconds_bucket" OTEL_GET_X ",le=", 1),
		15);
	assert_int_equal(count_lines(text,
				     "target_info{host_name=\"host-a\",process_pid=\"99\","
				     "service_name=\"worker\"} 1",
				     0),
			 1);
	assert_null(strstr(strstr(text, "# HELP otel_agent_build_info"), "otel_scope"));
	free(text);

	snap.version = NULL;
	text = render(render_otel, &snap);
	assert_line(text, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
			  "http_response_status_code=\"200\",url_scheme=\"http\","
			  "network_protocol_version=\"1.1\",http_route=\"/api/users/{id}\","
			  "otel_scope_name=\"otel-agent\",otel_scope_version=\"unknown\"} 7");
	free(text);

	snap.version = "1.2.3";
	text = render(render_plugin, &snap);
	assert_null(strstr(text, "otel_scope"));
	free(text);
}

/*
 * The active-requests gauge has a sample for each method that has a
 * series: _OTHER too, although the overflow series (whose method field is
 * _OTHER's) come after it and export no method.
 */
static void test_active_other_with_overflow(void **state)
{
	struct oa_series s[2] = {
		mk(OA_METHOD_OTHER, 200, OA_HTTP_11, "/x"),
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/y"), /* overflow */
	};
	struct oa_snapshot snap;
	char *text;

	(void)state;
	s[1].overflow = 1;
	s[1].method = OA_METHOD_OTHER; /* as the aggregator folds it */
	observe(&s[0], NS / 1000);
	observe(&s[1], NS / 1000);
	init_snapshot(&snap, s, 2);
	text = render(render_otel, &snap);
	assert_line(text, "http_server_active_requests{http_request_method=\"_OTHER\","
			  "url_scheme=\"http\"" SCOPE "} 0");
	free(text);
}

/* Overflow series: one sample per family, only otel_metric_overflow="true". */
static void test_overflow(void **state)
{
	struct oa_series s[6] = {
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/a"),
		mk(OA_METHOD_GET, 200, OA_HTTP_11, "/b"),  /* overflow */
		mk(OA_METHOD_POST, 503, OA_HTTP_10, "/c"), /* overflow */
		mk(OA_METHOD_PUT, 0, OA_HTTP_11, "/d"),	   /* overflow, ended by a reset */
		mk(OA_METHOD_GET, 404, OA_HTTP_11, "/e"),  /* overflow */
		mk(OA_METHOD_GET, 500, OA_HTTP_11, "/a"),
	};
	struct oa_snapshot snap;
	char *text;
	size_t i;

	(void)state;
	for (i = 1; i <= 4; i++)
		s[i].overflow = 1;
	s[3].error = OA_CONN_RESET;
	observe(&s[0], NS / 1000);
	observe(&s[1], 2 * NS / 1000);	 /* 2 ms */
	observe(&s[1], 30 * NS / 1000);	 /* 30 ms */
	observe(&s[2], 200 * NS / 1000); /* 200 ms */
	observe(&s[3], 3 * NS);		 /* 3 s */
	observe(&s[4], 8 * NS / 1000);	 /* 8 ms */
	observe(&s[4], 8 * NS / 1000);	 /* 8 ms */
	observe(&s[5], NS / 1000);
	init_snapshot(&snap, s, 6);
	snap.series_overflowed = 5;
	snap.requests_ignored = 4;

	text = render(render_otel, &snap);
	/* all five overflow requests, whatever their status or error */
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"0.005\"} 1");
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"0.01\"} 3");
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"0.05\"} 4");
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"0.25\"} 5");
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"5\"} 6");
	assert_line(text,
		    "http_server_request_duration_seconds_count{otel_metric_overflow=\"true\"" SCOPE
		    "} 6");
	assert_line(text,
		    "http_server_request_duration_seconds_sum{otel_metric_overflow=\"true\"" SCOPE
		    "} 3.248");
	assert_int_equal(count_lines(text, "http_server_request_duration_seconds_count{", 1), 3);
	assert_int_equal(count_lines(text,
				     "http_server_request_duration_seconds_count{"
				     "otel_metric_overflow",
				     1),
			 1);
	assert_null(strstr(text, "/b\""));
	assert_null(strstr(text, "/c\""));
	assert_line(text, "otel_agent_series_overflowed_total 5");
	assert_line(text, "otel_agent_requests_ignored_total 4");
	check_exposition(text);
	free(text);

	text = render(render_plugin, &snap);
	/* requests with a status: 200 x2, 503, 404 x2 */
	assert_line(text, "http_requests_total{otel_metric_overflow=\"true\"} 5");
	assert_int_equal(count_lines(text, "http_requests_total{", 1), 3);
	/* the duration of answered requests */
	assert_line(text, "http_request_duration_seconds_count{otel_metric_overflow=\"true\"} 5");
	assert_line(text, "http_request_duration_seconds_bucket{otel_metric_overflow=\"true\","
			  "le=\"0.001\"} 0");
	assert_line(text, "http_request_duration_seconds_bucket{otel_metric_overflow=\"true\","
			  "le=\"0.005\"} 1");
	assert_line(text, "http_request_duration_seconds_bucket{otel_metric_overflow=\"true\","
			  "le=\"0.01\"} 3");
	assert_line(text, "http_request_duration_seconds_bucket{otel_metric_overflow=\"true\","
			  "le=\"0.5\"} 5");
	assert_line(text, "http_request_duration_seconds_sum{otel_metric_overflow=\"true\"} 0.248");
	/* failures: the 503 and the reset */
	assert_line(text, "http_request_errors_total{otel_metric_overflow=\"true\"} 2");
	assert_line(text,
		    "http_request_errors_total{method=\"GET\",path=\"/a\",errorType=\"500\"} 1");
	assert_int_equal(count_lines(text, "http_request_errors_total{", 1), 2);
	assert_line(text, "otel_agent_series_overflowed_total 5");
	assert_line(text, "otel_agent_requests_ignored_total 4");
	check_exposition(text);
	free(text);

	text = render_om(&snap);
	assert_line(
		text,
		"http_server_request_duration_seconds_bucket{otel_metric_overflow=\"true\"" SCOPE
		",le=\"5.0\"} 6");
	check_openmetrics(text);
	free(text);

	/* Overflow of 2xx only: no overflow error sample, no empty label sets. */
	init_snapshot(&snap, &s[1], 1);
	text = render(render_plugin, &snap);
	assert_line(text, "http_requests_total{otel_metric_overflow=\"true\"} 2");
	assert_int_equal(count_lines(text, "http_request_errors_total{", 1), 0);
	check_exposition(text);
	free(text);

	/* Only requests ended without a response: no plugin histogram, one error sample. */
	init_snapshot(&snap, &s[3], 1);
	text = render(render_plugin, &snap);
	assert_int_equal(count_lines(text, "http_requests_total{", 1), 0);
	assert_int_equal(count_lines(text, "http_request_duration_seconds_count{", 1), 0);
	assert_line(text, "http_request_errors_total{otel_metric_overflow=\"true\"} 1");
	free(text);
	text = render(render_otel, &snap);
	assert_line(text,
		    "http_server_request_duration_seconds_count{otel_metric_overflow=\"true\"" SCOPE
		    "} 1");
	free(text);
}

static struct oa_resource mk_resource(pid_t pid, const char *attrs_text)
{
	struct oa_resource r;

	memset(&r, 0, sizeof(r));
	r.pid = pid;
	snprintf(r.service_name, sizeof(r.service_name), "core");
	snprintf(r.instance_id, sizeof(r.instance_id), "d6e24f2b-156e-545a-a46d-88386e8ca409");
	snprintf(r.executable_name, sizeof(r.executable_name), "node");
	snprintf(r.command, sizeof(r.command), "core");
	resource_attrs_parse(attrs_text, r.attrs, sizeof(r.attrs));
	return r;
}

static void test_target_info_resources(void **state)
{
	struct oa_resource r[2];
	struct oa_snapshot snap;
	char *text;

	(void)state;
	r[0] = mk_resource(1234, "");
	/*
	 * Overrides host.name, adds a key with a leading digit, keys that
	 * collide as label names (joined by ';' in key order), an empty value,
	 * a value that is not UTF-8, and cannot change process.pid.
	 */
	r[1] = mk_resource(99, "host.name=pod-7,2nd.key=x,deployment.environment=dev,"
			       "a.b=one,a_b=two,a-b=,odd=%ff%C3%A9,process.pid=1,weird--key!=w");
	init_snapshot(&snap, NULL, 0);
	snap.resources = r;

	text = render(render_otel, &snap);
	assert_line(text, "target_info{host_name=\"host-a\",process_command=\"core\","
			  "process_executable_name=\"node\",process_pid=\"1234\","
			  "service_instance_id=\"d6e24f2b-156e-545a-a46d-88386e8ca409\","
			  "service_name=\"core\"} 1");
	assert_line(text, "target_info{a_b=\"one;two\",deployment_environment=\"dev\","
			  "host_name=\"pod-7\",key_2nd_key=\"x\",odd=\"\xef\xbf\xbd\xc3\xa9\","
			  "process_command=\"core\",process_executable_name=\"node\","
			  "process_pid=\"99\","
			  "service_instance_id=\"d6e24f2b-156e-545a-a46d-88386e8ca409\","
			  "service_name=\"core\",weird_key_=\"w\"} 1");
	check_exposition(text);
	free(text);

	/* Without resources (snapshot.resources NULL): pid, service name, host. */
	snap.resources = NULL;
	text = render_om(&snap);
	assert_line(
		text,
		"target_info{host_name=\"host-a\",process_pid=\"99\",service_name=\"worker\"} 1");
	check_openmetrics(text);
	free(text);
}

static const double size_bounds[] = { 64, 1024, 16384 };

/* Body sizes, waiting requests and the targets' own outgoing requests. */
static void test_sizes_active_clients(void **state)
{
	struct oa_series s = mk(OA_METHOD_POST, 201, OA_HTTP_11, "/items");
	struct oa_client_series c;
	struct oa_snapshot snap;
	char *text;

	(void)state;
	observe(&s, NS / 100);
	observe(&s, NS / 100);
	/* request bodies of 10 and 2000 bytes; one response of 70 bytes */
	s.stats.req_body.count = 2;
	s.stats.req_body.sum = 2010;
	s.stats.req_body.buckets[0] = 1;
	s.stats.req_body.buckets[2] = 1;
	s.stats.resp_body.count = 1;
	s.stats.resp_body.sum = 70;
	s.stats.resp_body.buckets[1] = 1;
	memset(&c, 0, sizeof(c));
	c.method = OA_METHOD_GET;
	c.status = 404;
	c.version = OA_HTTP_11;
	c.server_port = 6379;
	strcpy(c.server_address, "10.1.2.3");
	c.stats.count = 3;
	c.stats.sum_ns = 3 * NS / 1000;
	c.stats.buckets[1] = 3; /* 0.005 */
	c.stats.resp_body.count = 3;
	c.stats.resp_body.sum = 30;
	c.stats.resp_body.buckets[0] = 3;
	init_snapshot(&snap, &s, 1);
	snap.size_bounds = size_bounds;
	snap.nr_size_bounds = 3;
	snap.active[OA_METHOD_GET] = 2;
	snap.clients = &c;
	snap.nr_clients = 1;

	text = render(render_otel, &snap);
#define POST_ITEMS                                                                               \
	"{http_request_method=\"POST\",http_response_status_code=\"201\",url_scheme=\"http\","   \
	"network_protocol_version=\"1.1\",http_route=\"/items\",otel_scope_name=\"otel-agent\"," \
	"otel_scope_version=\"1.2.3\""
	assert_line(text, "http_server_request_body_size_bytes_bucket" POST_ITEMS ",le=\"64\"} 1");
	assert_line(text,
		    "http_server_request_body_size_bytes_bucket" POST_ITEMS ",le=\"1024\"} 1");
	assert_line(text,
		    "http_server_request_body_size_bytes_bucket" POST_ITEMS ",le=\"16384\"} 2");
	assert_line(text,
		    "http_server_request_body_size_bytes_bucket" POST_ITEMS ",le=\"+Inf\"} 2");
	assert_line(text, "http_server_request_body_size_bytes_sum" POST_ITEMS "} 2010");
	assert_line(text, "http_server_response_body_size_bytes_bucket" POST_ITEMS ",le=\"64\"} 0");
	assert_line(text,
		    "http_server_response_body_size_bytes_bucket" POST_ITEMS ",le=\"1024\"} 1");
	assert_line(text, "http_server_response_body_size_bytes_count" POST_ITEMS "} 1");
	/* a method seen with none waiting is 0; GET has two waiting */
	assert_line(text,
		    "http_server_active_requests{http_request_method=\"GET\",url_scheme=\"http\","
		    "otel_scope_name=\"otel-agent\",otel_scope_version=\"1.2.3\"} 2");
	assert_line(text,
		    "http_server_active_requests{http_request_method=\"POST\",url_scheme=\"http\","
		    "otel_scope_name=\"otel-agent\",otel_scope_version=\"1.2.3\"} 0");
#define CLIENT                                                                                    \
	"{http_request_method=\"GET\",server_address=\"10.1.2.3\",server_port=\"6379\","          \
	"http_response_status_code=\"404\",url_scheme=\"http\",network_protocol_version=\"1.1\"," \
	"error_type=\"404\",otel_scope_name=\"otel-agent\",otel_scope_version=\"1.2.3\""
	assert_line(text, "http_client_request_duration_seconds_bucket" CLIENT ",le=\"0.005\"} 3");
	assert_line(text, "http_client_request_duration_seconds_count" CLIENT "} 3");
	assert_line(text, "http_client_response_body_size_bytes_bucket" CLIENT ",le=\"64\"} 3");
	/* no request body sizes for the client: no series in that family */
	assert_int_equal(count_lines(text, "http_client_request_body_size_bytes_count{", 1), 0);
	check_exposition(text);
	free(text);

	/* the plugin's endpoint has none of these */
	text = render(render_plugin, &snap);
	assert_int_equal(count_lines(text, "http_server_", 1), 0);
	assert_int_equal(count_lines(text, "http_client_", 1), 0);
	free(text);

	/* without --body-sizes: no body-size family at all, the rest unchanged */
	snap.body_sizes = false;
	text = render(render_otel, &snap);
	assert_null(strstr(text, "_body_size_bytes"));
	assert_line(text, "http_client_request_duration_seconds_count" CLIENT "} 3");
	assert_line(text,
		    "http_server_active_requests{http_request_method=\"GET\",url_scheme=\"http\","
		    "otel_scope_name=\"otel-agent\",otel_scope_version=\"1.2.3\"} 2");
	check_exposition(text);
	free(text);
}

/* The shortest of %.15g..%.17g that reads back as the same double: what the sums always were. */
static void ref_seconds(char *buf, size_t n, __u64 ns)
{
	double v = (double)ns / 1e9;

	for (int p = 15; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* Sums written without printf are the same text as with it, over every range of ns. */
static void test_sum_formatting_fast(void **state)
{
	static const __u64 edges[] = {
		0,
		1,
		9,
		10,
		12345,
		50000,
		57305,
		99999,
		100000,
		100001,
		999999999,
		1000000000,
		1000000001,
		1234567890123ULL,
		999999999999999ULL,
		1000000000000000ULL,
		1000000000000001ULL,
		9007199254740993ULL,
		18446744073709551615ULL,
	};
	size_t n = sizeof(edges) / sizeof(edges[0]) + 3000, i, found = 0;
	struct oa_series *s = calloc(n, sizeof(*s));
	struct oa_snapshot snap;
	char route[32], want[64], *text, *p;
	__u64 x = 7;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < n; i++) {
		__u64 r = (__u64)lcg(&x) << 32 | lcg(&x);

		snprintf(route, sizeof(route), "/s/%zu", i);
		s[i] = mk(OA_METHOD_GET, 200, OA_HTTP_11, route);
		s[i].stats.count = 1;
		s[i].stats.buckets[0] = 1;
		/* the edges, then random ones of every order of magnitude */
		s[i].stats.sum_ns = i < sizeof(edges) / sizeof(edges[0]) ? edges[i] : r >> (i % 64);
	}
	init_snapshot(&snap, s, n);
	text = render(render_plugin, &snap);
	for (p = strstr(text, "_sum{"); p; p = strstr(p + 1, "_sum{")) {
		unsigned long k = strtoul(strstr(p, "path=\"/s/") + 9, NULL, 10);
		const char *v = strstr(p, "} ") + 2;

		assert_true(k < n);
		ref_seconds(want, sizeof(want), s[k].stats.sum_ns);
		if (strncmp(v, want, strlen(want)) || v[strlen(want)] != '\n')
			fail_msg("sum of %llu ns: got %.30s, want %s",
				 (unsigned long long)s[k].stats.sum_ns, v, want);
		found++;
	}
	assert_int_equal(found, n);
	free(text);
	free(s);
}

/*
 * A malformed snapshot is an error before anything is written. Client
 * series were checked only after the server series had been written, and
 * body-size bounds not at all (a crash).
 */
static void test_invalid_before_output(void **state)
{
	struct oa_series s = known_series();
	struct oa_snapshot snap;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	init_snapshot(&snap, &s, 1);
	snap.nr_clients = 1; /* and no clients */
	f = open_memstream(&text, &len);
	assert_int_equal(render_otel(&snap, f), -EINVAL);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(len, 0);
	free(text);

	init_snapshot(&snap, &s, 1);
	snap.nr_size_bounds = 3; /* and no size bounds */
	text = NULL;
	f = open_memstream(&text, &len);
	assert_int_equal(render_otel(&snap, f), -EINVAL);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(len, 0);
	free(text);
}

/* A body that cannot be written is an error (EIO), not a short exposition taken for whole. */
static void test_write_error(void **state)
{
	struct oa_series *s = calloc(200, sizeof(*s));
	struct oa_snapshot snap;
	char route[32];
	FILE *f = fopen("/dev/full", "w");

	(void)state;
	assert_non_null(s);
	if (!f) {
		free(s);
		skip();
	}
	for (size_t i = 0; i < 200; i++) {
		snprintf(route, sizeof(route), "/w/%zu", i);
		s[i] = known_series();
		snprintf(s[i].route, sizeof(s[i].route), "%s", route);
	}
	init_snapshot(&snap, s, 200);
	assert_int_equal(render_otel(&snap, f), -EIO);
	fclose(f);
	free(s);
}

/* Lines longer than the writer's buffer (a version of 100 kB) are written whole all the same. */
static void test_long_lines(void **state)
{
	size_t vlen = 100000, nlines = 0;
	char *version = malloc(vlen + 1), *text, *p, *eol;
	struct oa_series s = known_series();
	struct oa_snapshot snap;

	(void)state;
	assert_non_null(version);
	memset(version, 'v', vlen);
	version[vlen] = '\0';
	init_snapshot(&snap, &s, 1);
	snap.version = version;
	text = render(render_otel, &snap);
	for (p = strstr(text, "http_server_request_duration_seconds_bucket{"); p;
	     p = strstr(eol, "http_server_request_duration_seconds_bucket{")) {
		eol = strchr(p, '\n');
		assert_non_null(eol);
		assert_true((size_t)(eol - p) > vlen);
		assert_non_null(memmem(p, (size_t)(eol - p), version, vlen));
		nlines++;
	}
	assert_int_equal(nlines, 15); /* 14 bounds and +Inf */
	assert_non_null(strstr(text, "\"} 7\nhttp_server_request_duration_seconds_sum{"));
	free(text);
	free(version);
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
		cmocka_unit_test(test_sizes_active_clients),
		cmocka_unit_test(test_other_method_and_version),
		cmocka_unit_test(test_missing_bound),
		cmocka_unit_test(test_empty_and_self_metrics),
		cmocka_unit_test(test_sum_formatting),
		cmocka_unit_test(test_sum_formatting_fast),
		cmocka_unit_test(test_invalid_before_output),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_stable_order),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_scope_labels),
		cmocka_unit_test(test_active_other_with_overflow),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_target_info_resources),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
