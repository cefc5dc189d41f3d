/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the exposition of a snapshot: the OpenTelemetry HTTP server
 * histogram and target_info for /metrics/otel, in Prometheus text 0.0.4 or
 * OpenMetrics 1.0.0; the old prom-client plugin's families for /metrics, in
 * Prometheus text; and the self-metrics at the end of both.
 *
 * The kernel counts one set of buckets over the union of both endpoints'
 * bounds, so every bucket here is an exact sum of kernel buckets; a bound
 * the kernel does not count is an error, never an interpolation.
 *
 * Series past the cardinality cap (oa_series.overflow) are summed, per
 * family, into one series whose only attribute is otel_metric_overflow.
 */
#include <errno.h>
#include <stdbool.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/buckets.h"
#include "expose/render.h"
#include "targets/resource.h"
#include "expose/text_out.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Room for any double in %.17g or JavaScript form, and any __u64. */
#define NUM_LEN	   48
#define MAX_LABELS 16
/* Below 1e15 ns, a duration sum in seconds has at most 15 significant digits (fmt_seconds). */
#define SECONDS_EXACT_NS 1000000000000000ULL
/* Below 1e5 ns (1e-4 s), %g writes a sum in exponent form. */
#define SECONDS_FIXED_NS 100000ULL

#define OTEL_DURATION	  "http_server_request_duration_seconds"
#define PLUGIN_REQUESTS	  "http_requests_total"
#define PLUGIN_DURATION	  "http_request_duration_seconds"
#define PLUGIN_ERRORS	  "http_request_errors_total"
#define OTEL_REQ_BODY	  "http_server_request_body_size_bytes"
#define OTEL_RESP_BODY	  "http_server_response_body_size_bytes"
#define OTEL_ACTIVE	  "http_server_active_requests"
#define CLIENT_DURATION	  "http_client_request_duration_seconds"
#define CLIENT_REQ_BODY	  "http_client_request_body_size_bytes"
#define CLIENT_RESP_BODY  "http_client_response_body_size_bytes"
#define CLIENT_ERROR_FROM 400
#define SERVER_ERROR_FROM 500

/* target_info: the attributes found for every target, and room for OTEL_RESOURCE_ATTRIBUTES. */
#define NR_DETECTED	 6
#define MAX_TARGET_ATTRS (NR_DETECTED + OA_RESOURCE_MAX_ATTRS)
#define LABEL_NAME_LEN	 128

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
	[OA_ERR_CONNS] = "conns",
	[OA_ERR_SERIES] = "series",
	[OA_ERR_TARGETS] = "targets",
	[OA_ERR_REQS] = "reqs",
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
	  OA_EV_REQUESTS_DROPPED },
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

/* A bucket's le value as its lines end it: 0.005"} (then the count). */
struct le_text {
	char s[NUM_LEN + 4];
	size_t len;
};

static const struct le_text le_inf = { "+Inf\"} ", 7 };

/* Where and how one exposition is written. */
struct expo {
	struct out_buf out;
	enum oa_format fmt;
	struct text line;   /* scratch: one line, or what a histogram's lines repeat */
	struct text labels; /* scratch: one label set, escaped */
	struct le_text size_le[OA_MAX_SIZE_BOUNDS]; /* the body-size bounds */
};

/* An endpoint's buckets mapped onto the snapshot's bounds. */
struct hist_layout {
	size_t n;
	unsigned int idx[MAX_HIST_BOUNDS]; /* the snapshot bound equal to each endpoint bound */
	struct le_text le[MAX_HIST_BOUNDS];
};

struct labels {
	unsigned int n;
	const char *name[MAX_LABELS];
	const char *value[MAX_LABELS];
	size_t len[MAX_LABELS];
};

/*
 * What the lines of one histogram repeat, in expo.line: from 0,
 * name_bucket{labels,le=" (bucket_len bytes); at sum_off, name_sum{labels}
 * and a space; at count_off, the same for _count. Escaped once, copied per line.
 */
struct hist_heads {
	size_t bucket_len;
	size_t sum_off, sum_len;
	size_t count_off, count_len;
};

/* A label set escaped: name="value",... (len 0: no labels). */
struct label_text {
	const char *p;
	size_t len;
};

/*
 * The escaped labels of each run of series with the same OpenTelemetry
 * labels: built for the duration histograms, copied again for the two
 * body-size ones instead of escaped again.
 */
struct run_labels {
	struct text text; /* the runs' labels one after the other */
	size_t *end;	  /* where the labels of run k end in text */
	size_t n;
};

/* One resource attribute of a target_info sample. */
struct target_attr {
	char name[LABEL_NAME_LEN]; /* the label name */
	const char *key;	   /* the attribute key it comes from */
	const char *value;
};

typedef int (*same_fn)(const struct oa_series *a, const struct oa_series *b);
typedef bool (*keep_fn)(const struct oa_series *s);

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

/* 1 to 99999 ns as %.15g writes ns / 1e9: d.ddde-XX, the digits of ns without trailing zeros. */
static void fmt_small_seconds(char *buf, __u64 ns)
{
	char d[U64_LEN];
	size_t nd = (size_t)(u64_text(d, ns) - d);
	int x = 10 - (int)nd; /* ns / 1e9 is d.ddd times ten to the -x, 5 <= x <= 9 */
	char *p = buf;

	while (d[nd - 1] == '0')
		nd--;
	*p++ = d[0];
	if (nd > 1) {
		*p++ = '.';
		memcpy(p, d + 1, nd - 1);
		p += nd - 1;
	}
	memcpy(p, "e-0", 3);
	p[3] = (char)('0' + x);
	p[4] = '\0';
}

/* 0, or 1e5 to 1e15 ns, as %.15g writes ns / 1e9: fixed point, no trailing zeros. */
static void fmt_fixed_seconds(char *buf, __u64 ns)
{
	char d[U64_LEN];
	char *p = u64_text(buf, ns / 1000000000ULL);
	size_t nd;

	if (ns % 1000000000ULL) {
		/* the nine fractional digits: a leading 1 keeps their zeros, then is skipped */
		u64_text(d, ns % 1000000000ULL + 1000000000ULL);
		for (nd = 10; d[nd - 1] == '0'; nd--)
			;
		*p++ = '.';
		memcpy(p, d + 1, nd - 1);
		p += nd - 1;
	}
	*p = '\0';
}

/*
 * A duration sum (ns / 1e9 seconds) exactly as fmt_float writes it, without
 * snprintf and strtod: a fifth of the rendering with them. Below 1e15 ns, ns / 1e9
 * has at most 15 significant digits: %.15g then gives those digits back,
 * they read back as the same double, and fmt_float stops there. %.15g writes
 * them in fixed point (trailing zeros dropped) from 1e-4 on, and as
 * d.ddde-XX below.
 */
static void fmt_seconds(char *buf, size_t n, __u64 ns)
{
	if (n < NUM_LEN || ns >= SECONDS_EXACT_NS)
		fmt_float(buf, n, (double)ns / 1e9);
	else if (ns && ns < SECONDS_FIXED_NS)
		fmt_small_seconds(buf, ns);
	else
		fmt_fixed_seconds(buf, ns);
}

/* v in exponent form with the fewest digits that read back as the same double. */
static void shortest_e(char *e, size_t n, double v)
{
	int p;

	for (p = 0; p < 17; p++) {
		snprintf(e, n, "%.*e", p, v);
		if (strtod(e, NULL) == v)
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
	int k = 0, dp, i, o = 0;
	char *c;

	if (v > DBL_MAX) {
		snprintf(buf, n, "+Inf");
		return;
	}
	shortest_e(e, sizeof(e), v);
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

/*
 * OpenMetrics' canonical rendering of le: Go's %g of the shortest
 * round-trip digits (exponent form below 1e-4 and from 1e+06), with ".0"
 * when it would read as an integer: 0.005, 1.0, 10.0, 1e+06.
 */
static void fmt_om(char *buf, size_t n, double v)
{
	char e[NUM_LEN];
	int nd = 0, x;
	char *c;

	if (v > DBL_MAX) {
		snprintf(buf, n, "+Inf");
		return;
	}
	shortest_e(e, sizeof(e), v);
	for (c = e; *c && *c != 'e'; c++)
		nd += *c >= '0' && *c <= '9';
	x = atoi(c + 1); /* v is d.ddd times ten to the x */
	if (x < -4 || x >= 6)
		snprintf(buf, n, "%s", e);
	else
		snprintf(buf, n, "%.*f", nd - 1 - x > 0 ? nd - 1 - x : 0, v);
	if (!strpbrk(buf, ".e"))
		strncat(buf, ".0", n - strlen(buf) - 1);
}

/* A bound as le, in the format's form, with what ends the bucket lines after it. */
static void le_init(struct le_text *le, enum oa_format fmt, double v)
{
	if (fmt == OA_FORMAT_OPENMETRICS)
		fmt_om(le->s, NUM_LEN, v);
	else
		fmt_js(le->s, NUM_LEN, v);
	le->len = strlen(le->s);
	memcpy(le->s + le->len, "\"} ", 4);
	le->len += 3;
}

/*
 * Validates the snapshot and maps the endpoint bounds onto it, before any
 * output: a malformed snapshot is an error, never half an exposition.
 */
static int layout_init(struct hist_layout *h, const struct oa_snapshot *s, FILE *out,
		       enum oa_format fmt, const double *bounds, size_t n)
{
	unsigned int i, k;

	if (!s || !out || s->nr_bounds > OA_MAX_BOUNDS || (s->nr_bounds && !s->bounds) ||
	    (s->nr_series && !s->series) || (s->nr_targets && !s->targets) ||
	    (s->nr_size_bounds && !s->size_bounds) ||
	    (fmt != OA_FORMAT_PROMETHEUS && fmt != OA_FORMAT_OPENMETRICS))
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
		le_init(&h->le[k], fmt, bounds[k]);
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

/* Overflow series last, so that the others are one run and the overflow ones another. */
static int cmp_series(const void *pa, const void *pb)
{
	const struct oa_series *a = *(const struct oa_series *const *)pa;
	const struct oa_series *b = *(const struct oa_series *const *)pb;
	int c;

	if (!a->overflow != !b->overflow)
		return a->overflow ? 1 : -1;
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

/*
 * A sorted index, so output is stable and equal label sets are adjacent;
 * *nr_regular is where the overflow series begin.
 */
static int sort_series(const struct oa_snapshot *s, const struct oa_series ***sorted,
		       size_t *nr_regular)
{
	const struct oa_series **v;
	size_t i;

	*sorted = NULL;
	*nr_regular = 0;
	if (!s->nr_series)
		return 0;
	v = calloc(s->nr_series, sizeof(*v));
	if (!v)
		return -1;
	for (i = 0; i < s->nr_series; i++)
		v[i] = &s->series[i];
	/* aggregate_series hands them over in this order already: check, not sort */
	for (i = 1; i < s->nr_series && cmp_series(&v[i - 1], &v[i]) <= 0; i++)
		;
	if (i < s->nr_series)
		qsort(v, s->nr_series, sizeof(*v), cmp_series);
	for (i = 0; i < s->nr_series && !v[i]->overflow; i++)
		;
	*nr_regular = i;
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
	size_t j;

	*acc = *v[i];
	if (answered_only && acc->error) {
		acc->count = 0;
		acc->sum_ns = 0;
		memset(acc->buckets, 0, sizeof(acc->buckets));
		memset(&acc->req_body, 0, sizeof(acc->req_body));
		memset(&acc->resp_body, 0, sizeof(acc->resp_body));
	}
	for (j = i + 1; j < n && same(v[i], v[j]); j++) {
		if (answered_only && v[j]->error)
			continue;
		acc->error = OA_CONN_OK; /* the run has answered requests */
		series_add(acc, v[j]);
	}
	return j;
}

/*
 * The run at v[i] as sum_run sums it, into acc only when it has more than
 * one series: most have one, and copying each (a kilobyte) three times per
 * scrape showed. *next is the index after the run.
 */
static const struct oa_series *run_of(const struct oa_series **v, size_t i, size_t n, same_fn same,
				      bool answered_only, struct oa_series *acc, size_t *next)
{
	if (i + 1 == n || !same(v[i], v[i + 1])) {
		*next = i + 1;
		if (!answered_only || !v[i]->error)
			return v[i];
	}
	*next = sum_run(v, i, n, same, answered_only, acc);
	return acc;
}

/* Sums the overflow series v[from..n) that keep() takes into acc; false if it takes none. */
static bool sum_overflow(const struct oa_series **v, size_t from, size_t n, keep_fn keep,
			 struct oa_series *acc)
{
	bool any = false;
	size_t i;

	memset(acc, 0, sizeof(*acc));
	acc->overflow = 1;
	for (i = from; i < n; i++) {
		if (!keep(v[i]))
			continue;
		series_add(acc, v[i]);
		any = true;
	}
	return any;
}

static bool keep_all(const struct oa_series *s)
{
	(void)s;
	return true;
}

/* Requests with a response (a status). */
static bool keep_answered(const struct oa_series *s)
{
	return !s->error;
}

/* What the plugin counted as errors: 5xx, and requests ended by a close or reset. */
static bool keep_failed(const struct oa_series *s)
{
	return s->error || s->status >= SERVER_ERROR_FROM;
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

static void overflow_labels(struct labels *ls)
{
	ls->n = 0;
	label(ls, "otel_metric_overflow", "true");
}

static void scope_labels(struct labels *ls, const struct oa_snapshot *s)
{
	label(ls, "otel_scope_name", OA_SCOPE_NAME);
	label(ls, "otel_scope_version", s->version ? s->version : "unknown");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

/* Writes out what was built in e->line; a line that could not be built is an error. */
static void put_text(struct expo *e)
{
	if (e->line.err && !e->out.err)
		e->out.err = e->line.err;
	out_put(&e->out, e->line.p, e->line.len);
}

/*
 * The metadata of a family. name is the sample name of a counter
 * (x_total) or an info (x_info); OpenMetrics names those families without
 * the suffix. Prometheus text has no info type (a gauge) and no unit.
 */
static void put_family(struct expo *e, const char *name, const char *type, const char *unit,
		       const char *help)
{
	struct text *t = &e->line;
	size_t n = strlen(name);

	t->len = 0;
	if (e->fmt == OA_FORMAT_PROMETHEUS) {
		text_str(t, "# HELP ");
		text_str(t, name);
		text_char(t, ' ');
		text_str(t, help);
		text_str(t, "\n# TYPE ");
		text_str(t, name);
		text_char(t, ' ');
		text_str(t, strcmp(type, "info") ? type : "gauge");
		text_char(t, '\n');
		put_text(e);
		return;
	}
	if (!strcmp(type, "counter") && ends_with(name, "_total"))
		n -= 6;
	else if (!strcmp(type, "info") && ends_with(name, "_info"))
		n -= 5;
	text_str(t, "# TYPE ");
	text_put(t, name, n);
	text_char(t, ' ');
	text_str(t, type);
	if (unit) {
		text_str(t, "\n# UNIT ");
		text_put(t, name, n);
		text_char(t, ' ');
		text_str(t, unit);
	}
	text_str(t, "\n# HELP ");
	text_put(t, name, n);
	text_char(t, ' ');
	text_str(t, help);
	text_char(t, '\n');
	put_text(e);
}

/* name="value",... with the values escaped, written in place: a scrape builds thousands. */
static void text_labels(struct text *t, const struct labels *ls)
{
	size_t name_len[MAX_LABELS], room = 0;
	unsigned int i;
	char *p;

	for (i = 0; i < ls->n; i++) {
		name_len[i] = strlen(ls->name[i]);
		room += name_len[i] + ESCAPED_MAX(ls->len[i]) + 4; /* ,name="" */
	}
	p = text_reserve(t, room);
	if (!p)
		return;
	for (i = 0; i < ls->n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, ls->name[i], name_len[i]);
		p += name_len[i];
		*p++ = '=';
		*p++ = '"';
		p = escape_to(p, ls->value[i], ls->len[i]);
		*p++ = '"';
	}
	text_commit(t, p);
}

/* A sample that is not part of a histogram: name{labels} value. */
static void put_sample(struct expo *e, const char *name, const struct labels *ls, const char *value)
{
	struct text *t = &e->line;

	t->len = 0;
	text_str(t, name);
	if (ls->n) {
		text_char(t, '{');
		text_labels(t, ls);
		text_char(t, '}');
	}
	text_char(t, ' ');
	text_str(t, value);
	text_char(t, '\n');
	put_text(e);
}

static void put_u64(struct expo *e, const char *name, const struct labels *ls, __u64 v)
{
	char num[U64_LEN + 1];

	*u64_text(num, v) = '\0';
	put_sample(e, name, ls, num);
}

/* Writes name+suffix{labels} and a space at p; returns the end. */
static char *head_to(char *p, const char *name, size_t name_len, const char *suffix,
		     size_t suffix_len, const char *labels, size_t lab_len)
{
	memcpy(p, name, name_len);
	p += name_len;
	memcpy(p, suffix, suffix_len);
	p += suffix_len;
	if (lab_len) {
		*p++ = '{';
		memcpy(p, labels, lab_len);
		p += lab_len;
		*p++ = '}';
	}
	*p++ = ' ';
	return p;
}

/* Builds what the lines of a histogram repeat in e->line; -1 when out of memory. */
static int hist_heads(struct expo *e, const char *name, const struct label_text *lt,
		      struct hist_heads *h)
{
	struct text *t = &e->line;
	size_t name_len = strlen(name);
	char *start, *p;

	t->len = 0;
	/* name_bucket{labels,le=", then name_count{labels} and a space twice over */
	p = text_reserve(t, name_len + 8 + lt->len + 5 + 2 * (name_len + lt->len + 9));
	if (!p) {
		if (!e->out.err)
			e->out.err = t->err;
		return -1;
	}
	start = p;
	memcpy(p, name, name_len);
	p += name_len;
	memcpy(p, "_bucket{", 8);
	p += 8;
	memcpy(p, lt->p, lt->len);
	p += lt->len;
	if (lt->len) {
		memcpy(p, ",le=\"", 5);
		p += 5;
	} else {
		memcpy(p, "le=\"", 4);
		p += 4;
	}
	h->bucket_len = (size_t)(p - start);
	h->sum_off = h->bucket_len;
	p = head_to(p, name, name_len, "_sum", 4, lt->p, lt->len);
	h->sum_len = (size_t)(p - start) - h->sum_off;
	h->count_off = (size_t)(p - start);
	p = head_to(p, name, name_len, "_count", 6, lt->p, lt->len);
	h->count_len = (size_t)(p - start) - h->count_off;
	text_commit(t, p);
	return 0;
}

/* ls escaped into e->labels: valid until the next call. */
static struct label_text escape_labels(struct expo *e, const struct labels *ls)
{
	e->labels.len = 0;
	text_labels(&e->labels, ls);
	if (e->labels.err && !e->out.err)
		e->out.err = e->labels.err;
	return (struct label_text){ e->labels.p, e->labels.len };
}

/* head, then tail, then v: one line, written in place (the hot path of a scrape). */
static void put_line_u64(struct expo *e, const char *head, size_t head_len, const char *tail,
			 size_t tail_len, __u64 v)
{
	char *p = out_reserve(&e->out, head_len + tail_len + U64_LEN + 1);
	char num[U64_LEN];

	if (!p) {
		/* longer than the buffer: labels of many kilobytes */
		out_put(&e->out, head, head_len);
		out_put(&e->out, tail, tail_len);
		out_put(&e->out, num, (size_t)(u64_text(num, v) - num));
		out_put(&e->out, "\n", 1);
		return;
	}
	memcpy(p, head, head_len);
	p += head_len;
	memcpy(p, tail, tail_len);
	p = u64_text(p + tail_len, v);
	*p++ = '\n';
	out_commit(&e->out, p);
}

/* head, then value, then a newline. */
static void put_line(struct expo *e, const char *head, size_t head_len, const char *value)
{
	out_put(&e->out, head, head_len);
	out_put(&e->out, value, strlen(value));
	out_put(&e->out, "\n", 1);
}

static void put_histogram(struct expo *e, const char *name, const struct label_text *lt,
			  const struct hist_layout *h, const struct oa_series *v)
{
	struct hist_heads hh;
	char num[NUM_LEN];
	const char *t;
	__u64 cum = 0;
	unsigned int j = 0;
	size_t k;

	if (hist_heads(e, name, lt, &hh))
		return;
	t = e->line.p;
	for (k = 0; k < h->n; k++) {
		for (; j <= h->idx[k]; j++)
			cum += v->buckets[j];
		/* Per-CPU slots are read one by one, so buckets may run ahead of count. */
		put_line_u64(e, t, hh.bucket_len, h->le[k].s, h->le[k].len,
			     cum < v->count ? cum : v->count);
	}
	put_line_u64(e, t, hh.bucket_len, le_inf.s, le_inf.len, v->count);
	fmt_seconds(num, sizeof(num), v->sum_ns);
	put_line(e, t + hh.sum_off, hh.sum_len, num);
	put_line_u64(e, t + hh.count_off, hh.count_len, "", 0, v->count);
}

/* A body-size histogram: the kernel's size buckets, all exported, cumulative. */
static void put_size_histogram(struct expo *e, const char *name, const struct label_text *lt,
			       const struct oa_snapshot *s, const struct size_hist *h)
{
	struct hist_heads hh;
	const char *t;
	__u64 cum = 0;
	unsigned int k;

	if (hist_heads(e, name, lt, &hh))
		return;
	t = e->line.p;
	for (k = 0; k < s->nr_size_bounds && k < OA_MAX_SIZE_BOUNDS; k++) {
		cum += h->buckets[k];
		put_line_u64(e, t, hh.bucket_len, e->size_le[k].s, e->size_le[k].len,
			     cum < h->count ? cum : h->count);
	}
	put_line_u64(e, t, hh.bucket_len, le_inf.s, le_inf.len, h->count);
	put_line_u64(e, t + hh.sum_off, hh.sum_len, "", 0, h->sum);
	put_line_u64(e, t + hh.count_off, hh.count_len, "", 0, h->count);
}

/*
 * A resource attribute key as a label name: characters other than
 * [a-zA-Z0-9_] become '_', runs of '_' one '_', and a leading digit gets
 * "key_" in front (OpenTelemetry's Prometheus compatibility rules).
 */
static void attr_label_name(char *out, size_t outlen, const char *key)
{
	size_t o = 0;
	const char *p;

	if (*key >= '0' && *key <= '9')
		o = (size_t)snprintf(out, outlen, "key_");
	for (p = key; *p && o + 1 < outlen; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		if (c == '_' && o && out[o - 1] == '_')
			continue;
		out[o++] = c;
	}
	out[o] = '\0';
}

static int cmp_target_attr(const void *pa, const void *pb)
{
	const struct target_attr *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	return c ? c : strcmp(a->key, b->key);
}

/*
 * The attributes of one target: the ones the agent finds, overridden or
 * extended by OTEL_RESOURCE_ATTRIBUTES (never process.pid), sorted by label
 * name. Returns how many.
 */
static size_t target_attrs(const struct oa_snapshot *s, size_t i, const char *pid,
			   struct target_attr *a)
{
	const struct oa_resource *r = s->resources ? &s->resources[i] : NULL;
	const char *k, *v;
	size_t n = 0, j;

	a[n].key = "host.name";
	a[n++].value = s->host_name;
	a[n].key = "process.pid";
	a[n++].value = pid;
	a[n].key = "service.name";
	a[n++].value = r ? r->service_name : s->targets[i].service_name;
	if (r) {
		a[n].key = "service.instance.id";
		a[n++].value = r->instance_id;
		a[n].key = "process.executable.name";
		a[n++].value = r->executable_name;
		a[n].key = "process.command";
		a[n++].value = r->command;
		for (k = r->attrs; *k && n < MAX_TARGET_ATTRS; k = v + strlen(v) + 1) {
			v = k + strlen(k) + 1;
			for (j = 0; j < NR_DETECTED && j < n && strcmp(a[j].key, k); j++)
				;
			if (j < NR_DETECTED && j < n) {
				if (strcmp(k, "process.pid"))
					a[j].value = v;
				continue;
			}
			a[n].key = k;
			a[n++].value = v;
		}
	}
	for (j = 0; j < n; j++)
		attr_label_name(a[j].name, sizeof(a[j].name), a[j].key);
	qsort(a, n, sizeof(*a), cmp_target_attr);
	return n;
}

/*
 * target_info: one sample per target. Attributes whose label names
 * collide are one label, the values joined by ';' in the order of their
 * keys; empty values are left out (an empty label is no label).
 */
static void put_targets(struct expo *e, const struct oa_snapshot *s)
{
	struct target_attr a[MAX_TARGET_ATTRS];
	struct text *t = &e->line;
	char pid[NUM_LEN];
	size_t i, j, k, n;

	put_family(e, "target_info", "info", NULL, "Target metadata");
	for (i = 0; i < s->nr_targets; i++) {
		const char *sep = "";

		snprintf(pid, sizeof(pid), "%u",
			 s->resources ? (unsigned int)s->resources[i].pid : s->targets[i].pid);
		n = target_attrs(s, i, pid, a);
		t->len = 0;
		text_str(t, "target_info{");
		for (j = 0; j < n; j = k) {
			bool open = false;

			for (k = j; k < n && !strcmp(a[k].name, a[j].name); k++) {
				if (!a[k].value || !a[k].value[0])
					continue;
				if (!open) {
					text_str(t, sep);
					text_str(t, a[j].name);
					text_put(t, "=\"", 2);
				} else {
					text_char(t, ';');
				}
				text_escaped(t, a[k].value, strlen(a[k].value));
				open = true;
				sep = ",";
			}
			if (open)
				text_char(t, '"');
		}
		text_str(t, "} 1\n");
		put_text(e);
	}
}

static void put_self(struct expo *e, const struct oa_snapshot *s)
{
	const struct labels none = { 0 };
	struct labels ls = { 0 };
	size_t i;

	put_family(e, "otel_agent_build_info", "info", NULL, "The agent's version, as a label.");
	label(&ls, "version", s->version ? s->version : "unknown");
	put_sample(e, "otel_agent_build_info", &ls, "1");

	put_family(e, "otel_agent_targets", "gauge", NULL, "Processes the agent is measuring.");
	put_u64(e, "otel_agent_targets", &none, s->nr_targets);

	for (i = 0; i < ARRAY_SIZE(event_counters); i++) {
		put_family(e, event_counters[i].name, "counter", NULL, event_counters[i].help);
		put_u64(e, event_counters[i].name, &none, s->events[event_counters[i].ev]);
	}

	put_family(e, "otel_agent_series_overflowed_total", "counter", NULL,
		   "Requests counted in an otel_metric_overflow series: past the cardinality cap.");
	put_u64(e, "otel_agent_series_overflowed_total", &none, s->series_overflowed);
	put_family(e, "otel_agent_requests_ignored_total", "counter", NULL,
		   "Requests on routes that match an ignore pattern: in no series.");
	put_u64(e, "otel_agent_requests_ignored_total", &none, s->requests_ignored);

	put_family(e, "otel_agent_map_update_errors_total", "counter", NULL,
		   "Kernel map updates that failed, by map.");
	for (i = 0; i < OA_ERR_COUNT; i++) {
		ls.n = 0;
		label(&ls, "map", map_names[i]);
		put_u64(e, "otel_agent_map_update_errors_total", &ls, s->map_errors[i]);
	}
}

/* Sets up the writing of an exposition to out; -1 with errno ENOMEM. */
static int expo_init(struct expo *e, enum oa_format fmt, FILE *out)
{
	memset(e, 0, sizeof(*e));
	e->fmt = fmt;
	return out_init(&e->out, out);
}

/* Ends the exposition (OpenMetrics' # EOF); 0, or -1 with errno the first error. */
static int finish(struct expo *e)
{
	if (e->fmt == OA_FORMAT_OPENMETRICS)
		out_put(&e->out, "# EOF\n", 6);
	text_free(&e->line);
	text_free(&e->labels);
	return out_finish(&e->out);
}

/* The semantic-convention labels of a server series (status is scratch space for its text). */
static void server_labels(struct labels *ls, const struct oa_snapshot *s,
			  const struct oa_series *acc, char status[NUM_LEN])
{
	*u64_text(status, acc->status) = '\0';
	ls->n = 0;
	label(ls, "http_request_method", method_name(acc->method));
	if (!acc->error)
		label(ls, "http_response_status_code", status);
	label(ls, "url_scheme", "http");
	if (version_key(acc->version))
		label(ls, "network_protocol_version", acc->version == OA_HTTP_10 ? "1.0" : "1.1");
	label_n(ls, "http_route", acc->route, strnlen(acc->route, OA_MAX_ROUTE));
	if (acc->error)
		label(ls, "error_type", conn_error_name(acc->error));
	else if (acc->status >= SERVER_ERROR_FROM)
		label(ls, "error_type", status);
	scope_labels(ls, s);
}

/* Room for the labels of up to n runs; -1 with errno ENOMEM. */
static int run_labels_init(struct run_labels *rl, size_t n)
{
	memset(rl, 0, sizeof(*rl));
	rl->end = calloc(n ? n : 1, sizeof(*rl->end));
	if (!rl->end) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void run_labels_free(struct run_labels *rl)
{
	text_free(&rl->text);
	free(rl->end);
}

/* Escapes the labels of the next run into rl and returns them. */
static struct label_text run_labels_add(struct expo *e, struct run_labels *rl,
					const struct labels *ls)
{
	size_t start = rl->text.len;

	text_labels(&rl->text, ls);
	if (rl->text.err && !e->out.err)
		e->out.err = rl->text.err;
	rl->end[rl->n++] = rl->text.len;
	return (struct label_text){ rl->text.p + start, rl->text.len - start };
}

/* The labels of run k, as run_labels_add escaped them. */
static struct label_text run_labels_get(const struct run_labels *rl, size_t k)
{
	size_t start = k ? rl->end[k - 1] : 0;

	return (struct label_text){ rl->text.p + start, rl->end[k] - start };
}

/* http.server.request.body.size / response.body.size: where the size was known. */
static void put_body_sizes(struct expo *e, const struct oa_snapshot *s, const struct oa_series **v,
			   size_t nr_regular, const struct run_labels *rl, bool response)
{
	const char *name = response ? OTEL_RESP_BODY : OTEL_REQ_BODY;
	struct oa_series acc;
	size_t i, next, k;

	put_family(e, name, "histogram", "bytes",
		   response ? "Size of HTTP server response bodies."
			    : "Size of HTTP server request bodies.");
	for (i = 0, k = 0; i < nr_regular && k < rl->n; i = next, k++) {
		const struct oa_series *r =
			run_of(v, i, nr_regular, same_labels_otel, false, &acc, &next);
		const struct size_hist *h = response ? &r->resp_body : &r->req_body;
		struct label_text lt;

		if (!h->count)
			continue;
		lt = run_labels_get(rl, k);
		put_size_histogram(e, name, &lt, s, h);
	}
}

/* http.server.active_requests: requests read and not answered yet, by method. */
static void put_active(struct expo *e, const struct oa_snapshot *s)
{
	struct labels ls;
	bool seen[OA_METHOD_COUNT] = { false };
	size_t i;

	for (i = 0; i < s->nr_series; i++)
		seen[method_key(s->series[i].method)] = !s->series[i].overflow;
	put_family(e, OTEL_ACTIVE, "gauge", NULL, "Number of active HTTP server requests.");
	for (i = 0; i < OA_METHOD_COUNT; i++) {
		if (!seen[i] && !s->active[i])
			continue;
		ls.n = 0;
		label(&ls, "http_request_method", method_names[i]);
		label(&ls, "url_scheme", "http");
		scope_labels(&ls, s);
		put_u64(e, OTEL_ACTIVE, &ls, s->active[i]);
	}
}

/* The client series as an oa_series, for the shared histogram writer. */
static void client_as_series(const struct oa_client_series *c, struct oa_series *out)
{
	memset(out, 0, sizeof(*out));
	out->count = c->count;
	out->sum_ns = c->sum_ns;
	memcpy(out->buckets, c->buckets, sizeof(out->buckets));
}

static void client_labels(struct labels *ls, const struct oa_snapshot *s,
			  const struct oa_client_series *c, char status[NUM_LEN],
			  char port[NUM_LEN])
{
	snprintf(status, NUM_LEN, "%u", c->status);
	snprintf(port, NUM_LEN, "%u", c->server_port);
	ls->n = 0;
	label(ls, "http_request_method", method_name(c->method));
	label(ls, "server_address", c->server_address);
	label(ls, "server_port", port);
	if (!c->error)
		label(ls, "http_response_status_code", status);
	label(ls, "url_scheme", "http");
	if (version_key(c->version))
		label(ls, "network_protocol_version", c->version == OA_HTTP_10 ? "1.0" : "1.1");
	/* for a client, 4xx is an error too */
	if (c->error)
		label(ls, "error_type", conn_error_name(c->error));
	else if (c->status >= CLIENT_ERROR_FROM)
		label(ls, "error_type", status);
	scope_labels(ls, s);
}

/* http.client.request.duration and body sizes: requests the targets sent. */
static void put_clients(struct expo *e, const struct oa_snapshot *s, const struct hist_layout *h)
{
	char status[NUM_LEN], port[NUM_LEN];
	struct label_text lt;
	struct oa_series as;
	struct labels ls;
	size_t i;

	put_family(e, CLIENT_DURATION, "histogram", "seconds", "Duration of HTTP client requests.");
	for (i = 0; i < s->nr_clients; i++) {
		client_labels(&ls, s, &s->clients[i], status, port);
		client_as_series(&s->clients[i], &as);
		lt = escape_labels(e, &ls);
		put_histogram(e, CLIENT_DURATION, &lt, h, &as);
	}
	put_family(e, CLIENT_REQ_BODY, "histogram", "bytes", "Size of HTTP client request bodies.");
	for (i = 0; i < s->nr_clients; i++) {
		if (!s->clients[i].req_body.count)
			continue;
		client_labels(&ls, s, &s->clients[i], status, port);
		lt = escape_labels(e, &ls);
		put_size_histogram(e, CLIENT_REQ_BODY, &lt, s, &s->clients[i].req_body);
	}
	put_family(e, CLIENT_RESP_BODY, "histogram", "bytes",
		   "Size of HTTP client response bodies.");
	for (i = 0; i < s->nr_clients; i++) {
		if (!s->clients[i].resp_body.count)
			continue;
		client_labels(&ls, s, &s->clients[i], status, port);
		lt = escape_labels(e, &ls);
		put_size_histogram(e, CLIENT_RESP_BODY, &lt, s, &s->clients[i].resp_body);
	}
}

/* Validates what render_otel_as needs beyond the layout: the client series. */
static int otel_valid(const struct oa_snapshot *s)
{
	if (s->nr_clients && !s->clients) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/*
 * http.server.request.duration: a histogram per label set, then the
 * overflow one. Keeps each run's escaped labels in rl for the body sizes.
 */
static void put_durations(struct expo *e, const struct oa_snapshot *s, const struct oa_series **v,
			  size_t nr_regular, const struct hist_layout *h, struct run_labels *rl)
{
	struct oa_series acc;
	struct label_text lt;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next;

	put_family(e, OTEL_DURATION, "histogram", "seconds", "Duration of HTTP server requests.");
	for (i = 0; i < nr_regular; i = next) {
		const struct oa_series *r =
			run_of(v, i, nr_regular, same_labels_otel, false, &acc, &next);

		server_labels(&ls, s, r, status);
		lt = run_labels_add(e, rl, &ls);
		put_histogram(e, OTEL_DURATION, &lt, h, r);
	}
	if (sum_overflow(v, nr_regular, s->nr_series, keep_all, &acc)) {
		overflow_labels(&ls);
		scope_labels(&ls, s);
		lt = escape_labels(e, &ls);
		put_histogram(e, OTEL_DURATION, &lt, h, &acc);
	}
}

int render_otel_as(const struct oa_snapshot *s, enum oa_format fmt, FILE *out)
{
	const struct oa_series **v;
	struct run_labels rl;
	struct hist_layout h;
	struct expo e;
	size_t i, nr_regular;

	if (layout_init(&h, s, out, fmt, buckets_otel.bounds, buckets_otel.nr) || otel_valid(s) ||
	    sort_series(s, &v, &nr_regular))
		return -1;
	if (run_labels_init(&rl, nr_regular)) {
		free(v);
		return -1;
	}
	if (expo_init(&e, fmt, out)) {
		run_labels_free(&rl);
		free(v);
		return -1;
	}
	for (i = 0; i < s->nr_size_bounds && i < OA_MAX_SIZE_BOUNDS; i++)
		le_init(&e.size_le[i], fmt, s->size_bounds[i]);

	/* OpenMetrics wants the target family first. */
	put_targets(&e, s);
	put_durations(&e, s, v, nr_regular, &h, &rl);
	put_body_sizes(&e, s, v, nr_regular, &rl, false);
	put_body_sizes(&e, s, v, nr_regular, &rl, true);
	run_labels_free(&rl);
	free(v);
	put_active(&e, s);
	put_clients(&e, s, &h);
	put_self(&e, s);
	return finish(&e);
}

int render_otel(const struct oa_snapshot *s, FILE *out)
{
	return render_otel_as(s, OA_FORMAT_PROMETHEUS, out);
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
	struct label_text lt;
	struct labels ls;
	struct expo e;
	char status[NUM_LEN];
	size_t i, next, nr_regular, n;

	if (layout_init(&h, s, out, OA_FORMAT_PROMETHEUS, buckets_plugin.bounds,
			buckets_plugin.nr) ||
	    sort_series(s, &v, &nr_regular))
		return -1;
	if (expo_init(&e, OA_FORMAT_PROMETHEUS, out)) {
		free(v);
		return -1;
	}
	n = s->nr_series;

	/* Version is not a plugin label: series differing only by it are summed. */
	put_family(&e, PLUGIN_REQUESTS, "counter", NULL, "Total number of HTTP requests");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_status, false, &acc);
		if (acc.error)
			continue; /* no status: counted in http_request_errors_total only */
		route_labels(&ls, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "status", status);
		put_u64(&e, PLUGIN_REQUESTS, &ls, acc.count);
	}
	if (sum_overflow(v, nr_regular, n, keep_answered, &acc)) {
		overflow_labels(&ls);
		put_u64(&e, PLUGIN_REQUESTS, &ls, acc.count);
	}

	put_family(&e, PLUGIN_DURATION, "histogram", "seconds",
		   "Duration of HTTP requests in seconds");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_route, true, &acc);
		if (acc.error)
			continue; /* only requests that ended without a response */
		route_labels(&ls, &acc);
		lt = escape_labels(&e, &ls);
		put_histogram(&e, PLUGIN_DURATION, &lt, &h, &acc);
	}
	if (sum_overflow(v, nr_regular, n, keep_answered, &acc)) {
		overflow_labels(&ls);
		lt = escape_labels(&e, &ls);
		put_histogram(&e, PLUGIN_DURATION, &lt, &h, &acc);
	}

	put_family(&e, PLUGIN_ERRORS, "counter", NULL, "Total number of HTTP requests that failed");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_status, false, &acc);
		if (!keep_failed(&acc))
			continue;
		route_labels(&ls, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "errorType", acc.error ? conn_error_name(acc.error) : status);
		put_u64(&e, PLUGIN_ERRORS, &ls, acc.count);
	}
	if (sum_overflow(v, nr_regular, n, keep_failed, &acc)) {
		overflow_labels(&ls);
		put_u64(&e, PLUGIN_ERRORS, &ls, acc.count);
	}
	free(v);

	put_self(&e, s);
	return finish(&e);
}
