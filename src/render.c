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

#include "buckets.h"
#include "render.h"
#include "targets.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Room for any double in %.17g or JavaScript form, and any __u64. */
#define NUM_LEN	   48
#define MAX_LABELS 16
/* Room for a histogram's labels escaped once; longer ones are escaped per line. */
#define LABELS_TEXT_LEN 4096

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

/* Where and how one exposition is written. */
struct expo {
	FILE *out;
	enum oa_format fmt;
	char size_le[OA_MAX_SIZE_BOUNDS][NUM_LEN]; /* the body-size bounds as le values */
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

/* A histogram's labels, escaped once for its many lines (labels_freeze). */
struct frozen_labels {
	const struct labels *ls;
	const char *text; /* name="value",..., or NULL: escape per line */
	size_t len;
	char buf[LABELS_TEXT_LEN];
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

/* Validates the snapshot and maps the endpoint bounds onto it, before any output. */
static int layout_init(struct hist_layout *h, const struct oa_snapshot *s, const struct expo *e,
		       const double *bounds, size_t n)
{
	unsigned int i, k;

	if (!s || !e->out || s->nr_bounds > OA_MAX_BOUNDS || (s->nr_bounds && !s->bounds) ||
	    (s->nr_series && !s->series) || (s->nr_targets && !s->targets) ||
	    (e->fmt != OA_FORMAT_PROMETHEUS && e->fmt != OA_FORMAT_OPENMETRICS))
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
		if (e->fmt == OA_FORMAT_OPENMETRICS)
			fmt_om(h->le[k], sizeof(h->le[k]), bounds[k]);
		else
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

/* Bytes of the UTF-8 sequence at v[0..n), or 0 if it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *v, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (v[0] < 0x80)
		return 1;
	if (v[0] >= 0xc2 && v[0] <= 0xdf)
		len = 2;
	else if (v[0] >= 0xe0 && v[0] <= 0xef)
		len = 3;
	else if (v[0] >= 0xf0 && v[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (v[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (v[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (v[0] == 0xf0)
		lo = 0x90; /* overlong */
	else if (v[0] == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (len > n || v[1] < lo || v[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (v[i] < 0x80 || v[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A label value: backslash, double quote and newline escaped; bytes that
 * are not UTF-8 (scrapers reject the whole exposition for one) become U+FFFD.
 */
static void put_escaped(FILE *out, const char *v, size_t n)
{
	size_t i, len;

	for (i = 0; i < n; i += len) {
		len = utf8_len((const unsigned char *)v + i, n - i);
		if (!len) {
			fputs("\xef\xbf\xbd", out);
			len = 1;
		} else if (v[i] == '\\') {
			fputs("\\\\", out);
		} else if (v[i] == '"') {
			fputs("\\\"", out);
		} else if (v[i] == '\n') {
			fputs("\\n", out);
		} else {
			fwrite(v + i, 1, len, out);
		}
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

/*
 * The metadata of a family. name is the sample name of a counter
 * (x_total) or an info (x_info); OpenMetrics names those families without
 * the suffix. Prometheus text has no info type (a gauge) and no unit.
 */
static void put_family(const struct expo *e, const char *name, const char *type, const char *unit,
		       const char *help)
{
	int n = (int)strlen(name);

	if (e->fmt == OA_FORMAT_PROMETHEUS) {
		fprintf(e->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
			strcmp(type, "info") ? type : "gauge");
		return;
	}
	if (!strcmp(type, "counter") && ends_with(name, "_total"))
		n -= 6;
	else if (!strcmp(type, "info") && ends_with(name, "_info"))
		n -= 5;
	fprintf(e->out, "# TYPE %.*s %s\n", n, name, type);
	if (unit)
		fprintf(e->out, "# UNIT %.*s %s\n", n, name, unit);
	fprintf(e->out, "# HELP %.*s %s\n", n, name, help);
}

static void put_labels(FILE *out, const struct labels *ls)
{
	unsigned int i;

	for (i = 0; i < ls->n; i++) {
		fprintf(out, "%s%s=\"", i ? "," : "", ls->name[i]);
		put_escaped(out, ls->value[i], ls->len[i]);
		fputc('"', out);
	}
}

/*
 * A histogram prints the same labels on every line: escape them once. Left
 * to be escaped per line (text NULL) if they do not fit.
 */
static void labels_freeze(struct frozen_labels *fl, const struct labels *ls)
{
	FILE *f = fmemopen(fl->buf, sizeof(fl->buf), "w");
	long len;

	fl->ls = ls;
	fl->text = NULL;
	if (!f)
		return;
	put_labels(f, ls);
	len = ftell(f);
	if (!ferror(f) && len >= 0 && (size_t)len < sizeof(fl->buf) - 1) {
		fl->text = fl->buf;
		fl->len = (size_t)len;
	}
	fclose(f);
}

/* One line of a histogram: name+suffix{labels[,le="le"]} value. */
static void put_line(const struct expo *e, const char *name, const char *suffix,
		     const struct frozen_labels *fl, const char *le, const char *value)
{
	fputs(name, e->out);
	fputs(suffix, e->out);
	if (fl->ls->n || le) {
		fputc('{', e->out);
		if (fl->text)
			fwrite(fl->text, 1, fl->len, e->out);
		else
			put_labels(e->out, fl->ls);
		if (le) {
			fputs(fl->ls->n ? ",le=\"" : "le=\"", e->out);
			fputs(le, e->out);
			fputc('"', e->out);
		}
		fputc('}', e->out);
	}
	fputc(' ', e->out);
	fputs(value, e->out);
	fputc('\n', e->out);
}

static void put_sample(const struct expo *e, const char *name, const char *suffix,
		       const struct labels *ls, const char *le, const char *value)
{
	struct frozen_labels fl = { .ls = ls, .text = NULL };

	put_line(e, name, suffix, &fl, le, value);
}

static void put_line_u64(const struct expo *e, const char *name, const char *suffix,
			 const struct frozen_labels *fl, const char *le, __u64 v)
{
	char num[NUM_LEN];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	put_line(e, name, suffix, fl, le, num);
}

static void put_u64(const struct expo *e, const char *name, const char *suffix,
		    const struct labels *ls, const char *le, __u64 v)
{
	char num[NUM_LEN];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	put_sample(e, name, suffix, ls, le, num);
}

static void put_histogram(const struct expo *e, const char *name, const struct labels *ls,
			  const struct hist_layout *h, const struct oa_series *v)
{
	struct frozen_labels fl;
	char num[NUM_LEN];
	__u64 cum = 0;
	unsigned int j = 0;
	size_t k;

	labels_freeze(&fl, ls);
	for (k = 0; k < h->n; k++) {
		for (; j <= h->idx[k]; j++)
			cum += v->buckets[j];
		/* Per-CPU slots are read one by one, so buckets may run ahead of count. */
		put_line_u64(e, name, "_bucket", &fl, h->le[k], cum < v->count ? cum : v->count);
	}
	put_line_u64(e, name, "_bucket", &fl, "+Inf", v->count);
	fmt_float(num, sizeof(num), (double)v->sum_ns / 1e9);
	put_line(e, name, "_sum", &fl, NULL, num);
	put_line_u64(e, name, "_count", &fl, NULL, v->count);
}

/* A body-size histogram: the kernel's size buckets, all exported, cumulative. */
static void put_size_histogram(const struct expo *e, const char *name, const struct labels *ls,
			       const struct oa_snapshot *s, const struct size_hist *h)
{
	struct frozen_labels fl;
	__u64 cum = 0;
	unsigned int k;

	labels_freeze(&fl, ls);
	for (k = 0; k < s->nr_size_bounds && k < OA_MAX_SIZE_BOUNDS; k++) {
		cum += h->buckets[k];
		put_line_u64(e, name, "_bucket", &fl, e->size_le[k],
			     cum < h->count ? cum : h->count);
	}
	put_line_u64(e, name, "_bucket", &fl, "+Inf", h->count);
	put_line_u64(e, name, "_sum", &fl, NULL, h->sum);
	put_line_u64(e, name, "_count", &fl, NULL, h->count);
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
static void put_targets(const struct expo *e, const struct oa_snapshot *s)
{
	struct target_attr a[MAX_TARGET_ATTRS];
	char pid[NUM_LEN];
	size_t i, j, k, n;

	put_family(e, "target_info", "info", NULL, "Target metadata");
	for (i = 0; i < s->nr_targets; i++) {
		const char *sep = "";

		snprintf(pid, sizeof(pid), "%u",
			 s->resources ? (unsigned int)s->resources[i].pid : s->targets[i].pid);
		n = target_attrs(s, i, pid, a);
		fputs("target_info{", e->out);
		for (j = 0; j < n; j = k) {
			bool open = false;

			for (k = j; k < n && !strcmp(a[k].name, a[j].name); k++) {
				if (!a[k].value || !a[k].value[0])
					continue;
				if (!open)
					fprintf(e->out, "%s%s=\"", sep, a[j].name);
				else
					fputc(';', e->out);
				put_escaped(e->out, a[k].value, strlen(a[k].value));
				open = true;
				sep = ",";
			}
			if (open)
				fputc('"', e->out);
		}
		fputs("} 1\n", e->out);
	}
}

static void put_self(const struct expo *e, const struct oa_snapshot *s)
{
	const struct labels none = { 0 };
	struct labels ls = { 0 };
	size_t i;

	put_family(e, "otel_agent_build_info", "info", NULL, "The agent's version, as a label.");
	label(&ls, "version", s->version ? s->version : "unknown");
	put_sample(e, "otel_agent_build_info", "", &ls, NULL, "1");

	put_family(e, "otel_agent_targets", "gauge", NULL, "Processes the agent is measuring.");
	put_u64(e, "otel_agent_targets", "", &none, NULL, s->nr_targets);

	for (i = 0; i < ARRAY_SIZE(event_counters); i++) {
		put_family(e, event_counters[i].name, "counter", NULL, event_counters[i].help);
		put_u64(e, event_counters[i].name, "", &none, NULL,
			s->events[event_counters[i].ev]);
	}

	put_family(e, "otel_agent_series_overflowed_total", "counter", NULL,
		   "Requests counted in an otel_metric_overflow series: past the cardinality cap.");
	put_u64(e, "otel_agent_series_overflowed_total", "", &none, NULL, s->series_overflowed);
	put_family(e, "otel_agent_requests_ignored_total", "counter", NULL,
		   "Requests on routes that match an ignore pattern: in no series.");
	put_u64(e, "otel_agent_requests_ignored_total", "", &none, NULL, s->requests_ignored);

	put_family(e, "otel_agent_map_update_errors_total", "counter", NULL,
		   "Kernel map updates that failed, by map.");
	for (i = 0; i < OA_ERR_COUNT; i++) {
		ls.n = 0;
		label(&ls, "map", map_names[i]);
		put_u64(e, "otel_agent_map_update_errors_total", "", &ls, NULL, s->map_errors[i]);
	}
}

static int finish(const struct expo *e)
{
	if (e->fmt == OA_FORMAT_OPENMETRICS)
		fputs("# EOF\n", e->out);
	if (fflush(e->out) || ferror(e->out)) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* The semantic-convention labels of a server series (status is scratch space for its text). */
static void server_labels(struct labels *ls, const struct oa_snapshot *s,
			  const struct oa_series *acc, char status[NUM_LEN])
{
	snprintf(status, NUM_LEN, "%u", acc->status);
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

/* http.server.request.body.size / response.body.size: where the size was known. */
static void put_body_sizes(const struct expo *e, const struct oa_snapshot *s,
			   const struct oa_series **v, size_t nr_regular, bool response)
{
	const char *name = response ? OTEL_RESP_BODY : OTEL_REQ_BODY;
	struct oa_series acc;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next;

	put_family(e, name, "histogram", "bytes",
		   response ? "Size of HTTP server response bodies."
			    : "Size of HTTP server request bodies.");
	for (i = 0; i < nr_regular; i = next) {
		const struct size_hist *h = response ? &acc.resp_body : &acc.req_body;

		next = sum_run(v, i, nr_regular, same_labels_otel, false, &acc);
		if (!h->count)
			continue;
		server_labels(&ls, s, &acc, status);
		put_size_histogram(e, name, &ls, s, h);
	}
}

/* http.server.active_requests: requests read and not answered yet, by method. */
static void put_active(const struct expo *e, const struct oa_snapshot *s)
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
		put_u64(e, OTEL_ACTIVE, "", &ls, NULL, s->active[i]);
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
static int put_clients(const struct expo *e, const struct oa_snapshot *s,
		       const struct hist_layout *h)
{
	char status[NUM_LEN], port[NUM_LEN];
	struct oa_series as;
	struct labels ls;
	size_t i;

	if (s->nr_clients && !s->clients) {
		errno = EINVAL;
		return -1;
	}
	put_family(e, CLIENT_DURATION, "histogram", "seconds", "Duration of HTTP client requests.");
	for (i = 0; i < s->nr_clients; i++) {
		client_labels(&ls, s, &s->clients[i], status, port);
		client_as_series(&s->clients[i], &as);
		put_histogram(e, CLIENT_DURATION, &ls, h, &as);
	}
	put_family(e, CLIENT_REQ_BODY, "histogram", "bytes", "Size of HTTP client request bodies.");
	for (i = 0; i < s->nr_clients; i++) {
		if (!s->clients[i].req_body.count)
			continue;
		client_labels(&ls, s, &s->clients[i], status, port);
		put_size_histogram(e, CLIENT_REQ_BODY, &ls, s, &s->clients[i].req_body);
	}
	put_family(e, CLIENT_RESP_BODY, "histogram", "bytes",
		   "Size of HTTP client response bodies.");
	for (i = 0; i < s->nr_clients; i++) {
		if (!s->clients[i].resp_body.count)
			continue;
		client_labels(&ls, s, &s->clients[i], status, port);
		put_size_histogram(e, CLIENT_RESP_BODY, &ls, s, &s->clients[i].resp_body);
	}
	return 0;
}

int render_otel_as(const struct oa_snapshot *s, enum oa_format fmt, FILE *out)
{
	struct expo e = { .out = out, .fmt = fmt };
	const struct oa_series **v;
	struct hist_layout h;
	struct oa_series acc;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next, nr_regular;

	if (layout_init(&h, s, &e, buckets_otel.bounds, buckets_otel.nr) ||
	    sort_series(s, &v, &nr_regular))
		return -1;
	for (i = 0; i < s->nr_size_bounds && i < OA_MAX_SIZE_BOUNDS; i++) {
		if (fmt == OA_FORMAT_OPENMETRICS)
			fmt_om(e.size_le[i], sizeof(e.size_le[i]), s->size_bounds[i]);
		else
			fmt_js(e.size_le[i], sizeof(e.size_le[i]), s->size_bounds[i]);
	}

	/* OpenMetrics wants the target family first. */
	put_targets(&e, s);

	put_family(&e, OTEL_DURATION, "histogram", "seconds", "Duration of HTTP server requests.");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_labels_otel, false, &acc);
		server_labels(&ls, s, &acc, status);
		put_histogram(&e, OTEL_DURATION, &ls, &h, &acc);
	}
	if (sum_overflow(v, nr_regular, s->nr_series, keep_all, &acc)) {
		overflow_labels(&ls);
		scope_labels(&ls, s);
		put_histogram(&e, OTEL_DURATION, &ls, &h, &acc);
	}
	put_body_sizes(&e, s, v, nr_regular, false);
	put_body_sizes(&e, s, v, nr_regular, true);
	free(v);
	put_active(&e, s);
	if (put_clients(&e, s, &h))
		return -1;

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
	const struct expo e = { .out = out, .fmt = OA_FORMAT_PROMETHEUS };
	const struct oa_series **v;
	struct hist_layout h;
	struct oa_series acc;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next, nr_regular, n;

	if (layout_init(&h, s, &e, buckets_plugin.bounds, buckets_plugin.nr) ||
	    sort_series(s, &v, &nr_regular))
		return -1;
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
		put_u64(&e, PLUGIN_REQUESTS, "", &ls, NULL, acc.count);
	}
	if (sum_overflow(v, nr_regular, n, keep_answered, &acc)) {
		overflow_labels(&ls);
		put_u64(&e, PLUGIN_REQUESTS, "", &ls, NULL, acc.count);
	}

	put_family(&e, PLUGIN_DURATION, "histogram", "seconds",
		   "Duration of HTTP requests in seconds");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_route, true, &acc);
		if (acc.error)
			continue; /* only requests that ended without a response */
		route_labels(&ls, &acc);
		put_histogram(&e, PLUGIN_DURATION, &ls, &h, &acc);
	}
	if (sum_overflow(v, nr_regular, n, keep_answered, &acc)) {
		overflow_labels(&ls);
		put_histogram(&e, PLUGIN_DURATION, &ls, &h, &acc);
	}

	put_family(&e, PLUGIN_ERRORS, "counter", NULL, "Total number of HTTP requests that failed");
	for (i = 0; i < nr_regular; i = next) {
		next = sum_run(v, i, nr_regular, same_status, false, &acc);
		if (!keep_failed(&acc))
			continue;
		route_labels(&ls, &acc);
		snprintf(status, sizeof(status), "%u", acc.status);
		label(&ls, "errorType", acc.error ? conn_error_name(acc.error) : status);
		put_u64(&e, PLUGIN_ERRORS, "", &ls, NULL, acc.count);
	}
	if (sum_overflow(v, nr_regular, n, keep_failed, &acc)) {
		overflow_labels(&ls);
		put_u64(&e, PLUGIN_ERRORS, "", &ls, NULL, acc.count);
	}
	free(v);

	put_self(&e, s);
	return finish(&e);
}
