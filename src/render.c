/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the Prometheus text exposition (format 0.0.4) of a snapshot: the
 * OpenTelemetry HTTP server histogram and target_info for /metrics/otel, the
 * old prom-client plugin's families for /metrics, and the self-metrics.
 *
 * The kernel counts one set of buckets over the union of both endpoints'
 * bounds, so every bucket here is an exact sum of kernel buckets; a bound
 * the kernel does not count is an error, never an interpolation.
 */
#include <errno.h>
#include <stdbool.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets.h"
#include "render.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Room for any double in %.17g or JavaScript form, and any __u64. */
#define NUM_LEN	   48
#define MAX_LABELS 8

#define OTEL_DURATION	  "http_server_request_duration_seconds"
#define PLUGIN_REQUESTS	  "http_requests_total"
#define PLUGIN_DURATION	  "http_request_duration_seconds"
#define PLUGIN_ERRORS	  "http_request_errors_total"
#define SERVER_ERROR_FROM 500

/* An endpoint has at most as many bounds as the kernel counts. */
#define MAX_HIST_BOUNDS OA_MAX_BOUNDS

static const char *const method_names[OA_METHOD_COUNT] = {
	[OA_METHOD_OTHER] = "_OTHER",	 [OA_METHOD_GET] = "GET",
	[OA_METHOD_HEAD] = "HEAD",	 [OA_METHOD_POST] = "POST",
	[OA_METHOD_PUT] = "PUT",	 [OA_METHOD_DELETE] = "DELETE",
	[OA_METHOD_CONNECT] = "CONNECT", [OA_METHOD_OPTIONS] = "OPTIONS",
	[OA_METHOD_TRACE] = "TRACE",	 [OA_METHOD_PATCH] = "PATCH",
};

static const char *const map_names[OA_ERR_COUNT] = {
	[OA_ERR_CONNS] = "conns",     [OA_ERR_SERIES] = "series", [OA_ERR_IO_ARGS] = "io_args",
	[OA_ERR_TARGETS] = "targets", [OA_ERR_REQS] = "reqs",
};

/* error_type / errorType of a request that ended without a response. */
static const char *const conn_error_names[OA_CONN_ERROR_COUNT] = {
	[OA_CONN_OK] = "",
	[OA_CONN_CLOSED] = "connection_closed",
	[OA_CONN_RESET] = "connection_reset",
};

static const struct {
	const char *name;
	const char *help;
	enum oa_event ev;
} event_counters[] = {
	{ "otel_agent_requests_total", "HTTP request lines recognised.", OA_EV_REQUESTS },
	{ "otel_agent_responses_total", "HTTP final responses matched to a request.",
	  OA_EV_RESPONSES },
	{ "otel_agent_unmatched_responses_total", "HTTP status lines seen with no request waiting.",
	  OA_EV_UNMATCHED_RESPONSES },
	{ "otel_agent_requests_dropped_total",
	  "Requests not timed because the connection's pipeline queue was full.",
	  OA_EV_REQUEST_REPLACED },
	{ "otel_agent_paths_truncated_total", "Request paths longer than the agent keeps.",
	  OA_EV_PATH_TRUNCATED },
	{ "otel_agent_not_http_connections_total",
	  "TCP connections of targets whose data was not HTTP/1.x.", OA_EV_NOT_HTTP },
	{ "otel_agent_upgraded_connections_total",
	  "Connections that switched protocol (101) and are no longer parsed.", OA_EV_UPGRADED },
	{ "otel_agent_connection_errors_total",
	  "Requests ended by a close or reset before their response.", OA_EV_CONN_ERRORS },
	{ "otel_agent_stale_connections_reclaimed_total",
	  "Connection state dropped because its fd was reused without a close seen.",
	  OA_EV_STALE_RECLAIMED },
	{ "otel_agent_targets_added_total",
	  "Processes the kernel side added as targets (forks, execs, renames, ports).",
	  OA_EV_TARGETS_ADDED },
};

/* An endpoint's buckets mapped onto the snapshot's bounds. */
struct hist_layout {
	size_t n;
	unsigned int idx[MAX_HIST_BOUNDS]; /* the snapshot bound equal to each endpoint bound */
	char le[MAX_HIST_BOUNDS][NUM_LEN];
};

struct labels {
	unsigned int n;
	const char *name[MAX_LABELS];
	const char *value[MAX_LABELS];
	size_t len[MAX_LABELS];
};

typedef int (*same_fn)(const struct oa_series *a, const struct oa_series *b);

/* Shortest of %.15g..%.17g that reads back as the same double. */
static void fmt_float(char *buf, size_t n, double v)
{
	int p;

	for (p = 15; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/*
 * JavaScript's Number.prototype.toString, which prom-client uses for le:
 * shortest round-trip digits, plain notation while -7 < exponent < 21.
 */
static void fmt_js(char *buf, size_t n, double v)
{
	char e[NUM_LEN], digits[NUM_LEN], plain[NUM_LEN * 2];
	int p, k = 0, dp, i, o = 0;
	char *c;

	if (v > DBL_MAX) {
		snprintf(buf, n, "+Inf");
		return;
	}
	for (p = 0; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p, v);
		if (strtod(e, NULL) == v)
			break;
	}
	for (c = e; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			digits[k++] = *c;
	digits[k] = '\0';
	dp = atoi(c + 1) + 1; /* digits before the decimal point */

	if (dp < -5 || dp > 21) {
		snprintf(plain, sizeof(plain), "%s%c%s%se%+d", v < 0 ? "-" : "", digits[0],
			 k > 1 ? "." : "", digits + 1, dp - 1);
		snprintf(buf, n, "%s", plain);
		return;
	}
	if (v < 0)
		plain[o++] = '-';
	if (dp <= 0) {
		plain[o++] = '0';
		plain[o++] = '.';
		for (i = dp; i < 0; i++)
			plain[o++] = '0';
	}
	for (i = 0; i < k || i < dp; i++) {
		if (i == dp && dp > 0)
			plain[o++] = '.';
		plain[o++] = i < k ? digits[i] : '0';
	}
	plain[o] = '\0';
	snprintf(buf, n, "%s", plain);
}

static int same_bound(double a, double b)
{
	double d = a > b ? a - b : b - a;
	double m = a > 0 ? a : -a;

	return a == b || d <= 1e-12 * m;
}

/* Validates the snapshot and maps the endpoint bounds onto it, before any output. */
static int layout_init(struct hist_layout *h, const struct oa_snapshot *s, FILE *out,
		       const double *bounds, size_t n)
{
	unsigned int i, k;

	if (!s || !out || s->nr_bounds > OA_MAX_BOUNDS || (s->nr_bounds && !s->bounds) ||
	    (s->nr_series && !s->series) || (s->nr_targets && !s->targets))
		goto invalid;
	for (i = 1; i < s->nr_bounds; i++)
		if (!(s->bounds[i - 1] < s->bounds[i]))
			goto invalid;
	h->n = n;
	for (k = 0; k < n; k++) {
		for (i = 0; i < s->nr_bounds && !same_bound(bounds[k], s->bounds[i]); i++)
			;
		if (i == s->nr_bounds)
			goto invalid;
		h->idx[k] = i;
		fmt_js(h->le[k], sizeof(h->le[k]), bounds[k]);
	}
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

static unsigned int method_key(__u8 m)
{
	return m < OA_METHOD_COUNT ? m : OA_METHOD_OTHER;
}

static const char *conn_error_name(__u8 e)
{
	return conn_error_names[e < OA_CONN_ERROR_COUNT ? e : OA_CONN_CLOSED];
}

static const char *method_name(__u8 m)
{
	return method_names[method_key(m)];
}

/* Only the versions that become a label value; others are exported as unknown. */
static unsigned int version_key(__u8 v)
{
	return v == OA_HTTP_10 || v == OA_HTTP_11 ? v : 0;
}

static int cmp_series(const void *pa, const void *pb)
{
	const struct oa_series *a = *(const struct oa_series *const *)pa;
	const struct oa_series *b = *(const struct oa_series *const *)pb;
	int c;

	if (method_key(a->method) != method_key(b->method))
		return method_key(a->method) < method_key(b->method) ? -1 : 1;
	c = strncmp(a->route, b->route, OA_MAX_ROUTE);
	if (c)
		return c;
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->error != b->error)
		return a->error < b->error ? -1 : 1;
	if (version_key(a->version) != version_key(b->version))
		return version_key(a->version) < version_key(b->version) ? -1 : 1;
	return 0;
}

static int same_route(const struct oa_series *a, const struct oa_series *b)
{
	return method_key(a->method) == method_key(b->method) &&
	       strncmp(a->route, b->route, OA_MAX_ROUTE) == 0;
}

static int same_status(const struct oa_series *a, const struct oa_series *b)
{
	return same_route(a, b) && a->status == b->status && a->error == b->error;
}

static int same_labels_otel(const struct oa_series *a, const struct oa_series *b)
{
	return same_status(a, b) && version_key(a->version) == version_key(b->version);
}

/* A sorted index, so output is stable and equal label sets are adjacent. */
static int sort_series(const struct oa_snapshot *s, const struct oa_series ***sorted)
{
	const struct oa_series **v;
	size_t i;

	*sorted = NULL;
	if (!s->nr_series)
		return 0;
	v = calloc(s->nr_series, sizeof(*v));
	if (!v)
		return -1;
	for (i = 0; i < s->nr_series; i++)
		v[i] = &s->series[i];
	qsort(v, s->nr_series, sizeof(*v), cmp_series);
	*sorted = v;
	return 0;
}

/*
 * Sums v[i..] while same() holds into acc; returns the index after the run.
 * answered_only leaves out requests that ended without a response; acc->error
 * is then set only when the run has nothing else.
 */
static size_t sum_run(const struct oa_series **v, size_t i, size_t n, same_fn same,
		      bool answered_only, struct oa_series *acc)
{
	size_t j, b;

	*acc = *v[i];
	if (answered_only && acc->error) {
		acc->count = 0;
		acc->sum_ns = 0;
		memset(acc->buckets, 0, sizeof(acc->buckets));
	}
	for (j = i + 1; j < n && same(v[i], v[j]); j++) {
		if (answered_only && v[j]->error)
			continue;
		acc->error = OA_CONN_OK; /* the run has answered requests */
		acc->count += v[j]->count;
		acc->sum_ns += v[j]->sum_ns;
		for (b = 0; b < OA_NR_BUCKETS; b++)
			acc->buckets[b] += v[j]->buckets[b];
	}
	return j;
}

static void label_n(struct labels *ls, const char *name, const char *value, size_t len)
{
	if (ls->n == MAX_LABELS)
		return;
	ls->name[ls->n] = name;
	ls->value[ls->n] = value ? value : "";
	ls->len[ls->n] = value ? len : 0;
	ls->n++;
}

static void label(struct labels *ls, const char *name, const char *value)
{
	label_n(ls, name, value, value ? strlen(value) : 0);
}

static void put_escaped(FILE *out, const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i] == '\\')
			fputs("\\\\", out);
		else if (v[i] == '"')
			fputs("\\\"", out);
		else if (v[i] == '\n')
			fputs("\\n", out);
		else
			fputc(v[i], out);
	}
}

static void put_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_sample(FILE *out, const char *name, const char *suffix, const struct labels *ls,
		       const char *le, const char *value)
{
	unsigned int i;

	fprintf(out, "%s%s", name, suffix);
	if (ls->n || le) {
		fputc('{', out);
		for (i = 0; i < ls->n; i++) {
			fprintf(out, "%s%s=\"", i ? "," : "", ls->name[i]);
			put_escaped(out, ls->value[i], ls->len[i]);
			fputc('"', out);
		}
		if (le)
			fprintf(out, "%sle=\"%s\"", ls->n ? "," : "", le);
		fputc('}', out);
	}
	fprintf(out, " %s\n", value);
}

static void put_u64(FILE *out, const char *name, const char *suffix, const struct labels *ls,
		    const char *le, __u64 v)
{
	char num[NUM_LEN];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	put_sample(out, name, suffix, ls, le, num);
}

static void put_histogram(FILE *out, const char *name, const struct labels *ls,
			  const struct hist_layout *h, const struct oa_series *v)
{
	char num[NUM_LEN];
	__u64 cum = 0;
	unsigned int j = 0;
	size_t k;

	for (k = 0; k < h->n; k++) {
		for (; j <= h->idx[k]; j++)
			cum += v->buckets[j];
		/* Per-CPU slots are read one by one, so buckets may run ahead of count. */
		put_u64(out, name, "_bucket", ls, h->le[k], cum < v->count ? cum : v->count);
	}
	put_u64(out, name, "_bucket", ls, "+Inf", v->count);
	fmt_float(num, sizeof(num), (double)v->sum_ns / 1e9);
	put_sample(out, name, "_sum", ls, NULL, num);
	put_u64(out, name, "_count", ls, NULL, v->count);
}

static void put_targets(const struct oa_snapshot *s, FILE *out)
{
	char pid[NUM_LEN];
	size_t i;

	put_header(out, "target_info", "gauge", "Target metadata");
	for (i = 0; i < s->nr_targets; i++) {
		const struct oa_target *t = &s->targets[i];
		struct labels ls = { 0 };

		snprintf(pid, sizeof(pid), "%u", t->pid);
		label_n(&ls, "service_name", t->service_name,
			strnlen(t->service_name, sizeof(t->service_name)));
		label(&ls, "process_pid", pid);
		label(&ls, "host_name", s->host_name);
		put_sample(out, "target_info", "", &ls, NULL, "1");
	}
}

static void put_self(const struct oa_snapshot *s, FILE *out)
{
	const struct labels none = { 0 };
	struct labels ls = { 0 };
	size_t i;

	put_header(out, "otel_agent_build_info", "gauge", "The agent's version, as a label.");
	label(&ls, "version", s->version ? s->version : "unknown");
	put_sample(out, "otel_agent_build_info", "", &ls, NULL, "1");

	put_header(out, "otel_agent_targets", "gauge", "Processes the agent is measuring.");
	put_u64(out, "otel_agent_targets", "", &none, NULL, s->nr_targets);

	for (i = 0; i < ARRAY_SIZE(event_counters); i++) {
		put_header(out, event_counters[i].name, "counter", event_counters[i].help);
		put_u64(out, event_counters[i].name, "", &none, NULL,
			s->events[event_counters[i].ev]);
	}

	put_header(out, "otel_agent_map_update_errors_total", "counter",
		   "Kernel map updates that failed, by map.");
	for (i = 0; i < OA_ERR_COUNT; i++) {
		ls.n = 0;
		label(&ls, "map", map_names[i]);
		put_u64(out, "otel_agent_map_update_errors_total", "", &ls, NULL, s->map_errors[i]);
	}
}

static int finish(FILE *out)
{
	if (fflush(out) || ferror(out)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int render_otel(const struct oa_snapshot *s, FILE *out)
{
	const struct oa_series **v;
	struct hist_layout h;
	struct oa_series acc;
	size_t i, next;

	if (layout_init(&h, s, out, buckets_otel.bounds, buckets_otel.nr) || sort_series(s, &v))
		return -1;

	put_header(out, OTEL_DURATION, "histogram", "Duration of HTTP server requests.");
	for (i = 0; i < s->nr_series; i = next) {
		struct labels ls = { 0 };
		char status[NUM_LEN];

		next = sum_run(v, i, s->nr_series, same_labels_otel, false, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "http_request_method", method_name(acc.method));
		if (!acc.error)
			label(&ls, "http_response_status_code", status);
		label(&ls, "url_scheme", "http");
		if (version_key(acc.version))
			label(&ls, "network_protocol_version",
			      acc.version == OA_HTTP_10 ? "1.0" : "1.1");
		label_n(&ls, "http_route", acc.route, strnlen(acc.route, OA_MAX_ROUTE));
		if (acc.error)
			label(&ls, "error_type", conn_error_name(acc.error));
		else if (acc.status >= SERVER_ERROR_FROM)
			label(&ls, "error_type", status);
		put_histogram(out, OTEL_DURATION, &ls, &h, &acc);
	}
	free(v);

	put_targets(s, out);
	put_self(s, out);
	return finish(out);
}

static void route_labels(struct labels *ls, const struct oa_series *acc)
{
	ls->n = 0;
	label(ls, "method", method_name(acc->method));
	label_n(ls, "path", acc->route, strnlen(acc->route, OA_MAX_ROUTE));
}

int render_plugin(const struct oa_snapshot *s, FILE *out)
{
	const struct oa_series **v;
	struct hist_layout h;
	struct oa_series acc;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next;

	if (layout_init(&h, s, out, buckets_plugin.bounds, buckets_plugin.nr) || sort_series(s, &v))
		return -1;

	/* Version is not a plugin label: series differing only by it are summed. */
	put_header(out, PLUGIN_REQUESTS, "counter", "Total number of HTTP requests");
	for (i = 0; i < s->nr_series; i = next) {
		next = sum_run(v, i, s->nr_series, same_status, false, &acc);
		if (acc.error)
			continue; /* no status: counted in http_request_errors_total only */
		route_labels(&ls, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "status", status);
		put_u64(out, PLUGIN_REQUESTS, "", &ls, NULL, acc.count);
	}

	put_header(out, PLUGIN_DURATION, "histogram", "Duration of HTTP requests in seconds");
	for (i = 0; i < s->nr_series; i = next) {
		next = sum_run(v, i, s->nr_series, same_route, true, &acc);
		if (acc.error)
			continue; /* only requests that ended without a response */
		route_labels(&ls, &acc);
		put_histogram(out, PLUGIN_DURATION, &ls, &h, &acc);
	}

	put_header(out, PLUGIN_ERRORS, "counter", "Total number of HTTP requests that failed");
	for (i = 0; i < s->nr_series; i = next) {
		next = sum_run(v, i, s->nr_series, same_status, false, &acc);
		if (acc.status < SERVER_ERROR_FROM && !acc.error)
			continue;
		route_labels(&ls, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "errorType", acc.error ? conn_error_name(acc.error) : status);
		put_u64(out, PLUGIN_ERRORS, "", &ls, NULL, acc.count);
	}
	free(v);

	put_self(s, out);
	return finish(out);
}
