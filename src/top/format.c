// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the text and JSON forms of the top table (format.h). Lines are
 * built whole, then made safe (no byte a terminal could take for a
 * control) and cut to the width, so that no route or process name can
 * move the cursor or break the layout.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expose/labels.h"
#include "top/format.h"

/* Room for any cell of a number column (a __u64, a rate, a duration). */
#define CELL_LEN 48
/* METHOD holds the longest method name (CONNECT, OPTIONS). */
#define METHOD_WIDTH 7
/* The least the route column shrinks to: a few characters and the "~". */
#define ROUTE_MIN_WIDTH 6

/* The number columns, right-aligned, each at least min wide (steadier as values change). */
enum num_col {
	NUM_RATE,
	NUM_TOTAL,
	NUM_4XX,
	NUM_5XX,
	NUM_ERRORS,
	NUM_P50,
	NUM_P90,
	NUM_P99,
	NUM_ACTIVE,
	NUM_COUNT
};

static const struct {
	const char *head;
	int min;
} num_cols[NUM_COUNT] = {
	[NUM_RATE] = { "REQ/S", 7 }, [NUM_TOTAL] = { "TOTAL", 7 },   [NUM_4XX] = { "4XX%", 5 },
	[NUM_5XX] = { "5XX%", 5 },   [NUM_ERRORS] = { "ERRORS", 6 }, [NUM_P50] = { "P50", 7 },
	[NUM_P90] = { "P90", 7 },    [NUM_P99] = { "P99", 7 },	     [NUM_ACTIVE] = { "ACTIVE", 6 },
};

/* A line being built; err is set once anything fails, and later appends do nothing. */
struct line {
	char *s;
	size_t len, cap;
	int err;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	if (l->err)
		return;
	if (l->len + n + 1 > l->cap) {
		size_t cap = (l->len + n + 1) * 2;
		char *p = realloc(l->s, cap);

		if (!p) {
			l->err = -ENOMEM;
			return;
		}
		l->s = p;
		l->cap = cap;
	}
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void line_printf(struct line *l, const char *fmt, ...)
{
	char small[256], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!l->err)
			l->err = -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		line_put(l, small, n);
		return;
	}
	big = malloc(n + 1);
	if (!big) {
		if (!l->err)
			l->err = -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	line_put(l, big, n);
	free(big);
}

/*
 * Writes the line built so far to out, each byte that is not printable ASCII
 * as '?', cut to width (its last column "~") when longer; then empties it.
 */
static void line_emit(struct line *l, FILE *out, int width)
{
	size_t n = l->len;
	bool cut = width > 0 && n > (size_t)width;

	if (l->err)
		return;
	if (cut)
		n = width - 1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)l->s[i] < 0x20 || (unsigned char)l->s[i] > 0x7e)
			l->s[i] = '?';
	fwrite(l->s, 1, n, out);
	fputs(cut ? "~\n" : "\n", out);
	l->len = 0;
}

static __u64 at(const __u64 *v, unsigned int i)
{
	return v ? v[i] : 0;
}

static __u64 map_errors_sum(const __u64 *map_errors)
{
	__u64 sum = 0;

	for (unsigned int i = 0; i < OA_ERR_COUNT; i++)
		sum += at(map_errors, i);
	return sum;
}

static void fmt_rate(char *buf, double rate)
{
	if (isnan(rate))
		snprintf(buf, CELL_LEN, "-");
	else
		snprintf(buf, CELL_LEN, "%.1f", rate);
}

/* A share (0..1) as a percent with one decimal, suffix after it; "-" when unknown. */
static void fmt_share(char *buf, double share, const char *suffix)
{
	if (isnan(share))
		snprintf(buf, CELL_LEN, "-");
	else
		snprintf(buf, CELL_LEN, "%.1f%s", share * 100, suffix);
}

/* Seconds as 0.25ms, 2.5ms, 1.20s: below a millisecond with a second decimal. */
static void fmt_duration(char *buf, double s)
{
	double ms = s * 1000;

	if (isnan(s))
		snprintf(buf, CELL_LEN, "-");
	else if (ms < 1)
		snprintf(buf, CELL_LEN, "%.2fms", ms);
	else if (ms < 999.95) /* what %.1f would round up to 1000.0 is shown in seconds */
		snprintf(buf, CELL_LEN, "%.1fms", ms);
	else
		snprintf(buf, CELL_LEN, "%.2fs", s);
}

static void row_cells(const struct top_row *r, char cells[NUM_COUNT][CELL_LEN])
{
	fmt_rate(cells[NUM_RATE], r->rate);
	snprintf(cells[NUM_TOTAL], CELL_LEN, "%llu", (unsigned long long)r->total);
	fmt_share(cells[NUM_4XX], r->share_4xx, "");
	fmt_share(cells[NUM_5XX], r->share_5xx, "");
	snprintf(cells[NUM_ERRORS], CELL_LEN, "%llu", (unsigned long long)r->errors);
	fmt_duration(cells[NUM_P50], r->p50);
	fmt_duration(cells[NUM_P90], r->p90);
	fmt_duration(cells[NUM_P99], r->p99);
	snprintf(cells[NUM_ACTIVE], CELL_LEN, "%llu", (unsigned long long)r->active);
}

static void header_lines(struct line *l, FILE *out, const struct top_table *t,
			 const struct top_header *h, int width)
{
	const struct top_row *all = &t->all;
	const char *sort = top_column_name(h->sort);
	char rate[CELL_LEN], s4[CELL_LEN], s5[CELL_LEN];

	line_printf(l, "otel-agent top: %zu target(s)", h->nr_targets);
	for (size_t i = 0; h->targets && i < h->nr_targets; i++) {
		const char *comm = h->target_names ? h->target_names[i] : NULL;
		const char *service = h->targets[i].service_name;

		line_printf(l, "%s%u", i ? ", " : ": ", h->targets[i].pid);
		if (comm && *comm)
			line_printf(l, " %s", comm);
		if (*service)
			line_printf(l, " (%.*s)", (int)sizeof(h->targets[i].service_name), service);
	}
	line_printf(l, "  every %.1f s; quantiles interpolated within buckets (histogram_quantile)",
		    t->interval_s);
	line_emit(l, out, width);

	fmt_rate(rate, all->rate);
	fmt_share(s4, all->share_4xx, "%");
	fmt_share(s5, all->share_5xx, "%");
	line_printf(l,
		    "requests: %llu total, %s/s, %llu active, 4xx %s, 5xx %s, errors %llu | "
		    "agent: dropped %llu, map errors %llu, not HTTP %llu, unmatched %llu",
		    (unsigned long long)all->total, rate, (unsigned long long)all->active, s4, s5,
		    (unsigned long long)all->errors,
		    (unsigned long long)at(h->events, OA_EV_REQUESTS_DROPPED),
		    (unsigned long long)map_errors_sum(h->map_errors),
		    (unsigned long long)at(h->events, OA_EV_NOT_HTTP),
		    (unsigned long long)at(h->events, OA_EV_UNMATCHED_RESPONSES));
	line_emit(l, out, width);

	line_printf(l, "sort: %s%s", sort ? sort : "?", h->reverse ? " reversed" : "");
	if (h->filter && *h->filter)
		line_printf(l, "  filter: %s", h->filter);
	if (h->paused)
		line_printf(l, "  paused");
	line_emit(l, out, width);
	line_emit(l, out, width);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* The route column's width: every route whole, unless the width says less. */
static int route_width(const struct top_table *t, const int *num_width, int width)
{
	int fixed = METHOD_WIDTH + 1, w = (int)strlen("ROUTE");

	for (size_t i = 0; i < t->nr; i++)
		w = max_int(w, (int)strlen(top_row_route(&t->rows[i])));
	for (int c = 0; c < NUM_COUNT; c++)
		fixed += 1 + num_width[c];
	if (width > 0 && fixed + w > width)
		w = max_int(width - fixed, ROUTE_MIN_WIDTH);
	return w;
}

static void table_line(struct line *l, const char *method, const char *route, int route_w,
		       char cells[NUM_COUNT][CELL_LEN], const int *num_width)
{
	int len = (int)strlen(route);

	line_printf(l, "%-*s ", METHOD_WIDTH, method);
	if (len > route_w)
		line_printf(l, "%.*s~", route_w - 1, route);
	else
		line_printf(l, "%-*s", route_w, route);
	for (int c = 0; c < NUM_COUNT; c++)
		line_printf(l, " %*s", num_width[c], cells[c]);
}

int top_format_text(FILE *out, const struct top_table *t, const struct top_header *h, int width)
{
	char cells[NUM_COUNT][CELL_LEN];
	int num_width[NUM_COUNT], route_w;
	struct line l = { 0 };

	if (!out || !t || !h || (t->nr && !t->rows) || width < 0)
		return -EINVAL;
	header_lines(&l, out, t, h, width);

	for (int c = 0; c < NUM_COUNT; c++)
		num_width[c] = max_int(num_cols[c].min, (int)strlen(num_cols[c].head));
	for (size_t i = 0; i < t->nr; i++) {
		row_cells(&t->rows[i], cells);
		for (int c = 0; c < NUM_COUNT; c++)
			num_width[c] = max_int(num_width[c], (int)strlen(cells[c]));
	}
	route_w = route_width(t, num_width, width);

	for (int c = 0; c < NUM_COUNT; c++)
		snprintf(cells[c], CELL_LEN, "%s", num_cols[c].head);
	table_line(&l, "METHOD", "ROUTE", route_w, cells, num_width);
	line_emit(&l, out, width);
	for (size_t i = 0; i < t->nr; i++) {
		const struct top_row *r = &t->rows[i];

		row_cells(r, cells);
		/* the overflow series' method is no label of theirs: not shown */
		table_line(&l, r->overflow ? "-" : method_name(r->method), top_row_route(r),
			   route_w, cells, num_width);
		line_emit(&l, out, width);
	}
	free(l.s);
	if (l.err)
		return l.err;
	return ferror(out) ? -EIO : 0;
}

/* The length of the UTF-8 sequence at p (n bytes there), 0 if it is not one (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* s (at most max bytes) as a JSON string. */
static void json_string(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max), i = 0, len;

	fputc('"', out);
	while (i < n) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
			i++;
		} else if (c == '\n') {
			fputs("\\n", out);
			i++;
		} else if (c == '\r') {
			fputs("\\r", out);
			i++;
		} else if (c == '\t') {
			fputs("\\t", out);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, out);
			i++;
		} else if ((len = utf8_len(p + i, n - i))) {
			fwrite(p + i, 1, len, out);
			i += len;
		} else {
			fputs("\\ufffd", out);
			i++;
		}
	}
	fputc('"', out);
}

/* A double in the fewest digits that read back as it; null when not finite. */
static void json_double(FILE *out, double v)
{
	char buf[CELL_LEN];

	if (!isfinite(v)) {
		fputs("null", out);
		return;
	}
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

static void json_u64(FILE *out, const char *key, __u64 v)
{
	fprintf(out, "\"%s\":%llu", key, (unsigned long long)v);
}

static void json_number(FILE *out, const char *key, double v)
{
	fprintf(out, "\"%s\":", key);
	json_double(out, v);
}

/* What rows and the totals share, in the same order: share_4xx to p99_s. */
static void json_interval(FILE *out, const struct top_row *r)
{
	json_number(out, "share_4xx", r->share_4xx);
	fputc(',', out);
	json_number(out, "share_5xx", r->share_5xx);
	fputc(',', out);
	json_u64(out, "errors", r->errors);
	fputc(',', out);
	json_number(out, "p50_s", r->p50);
	fputc(',', out);
	json_number(out, "p90_s", r->p90);
	fputc(',', out);
	json_number(out, "p99_s", r->p99);
}

static void json_targets(FILE *out, const struct top_header *h)
{
	fputs("\"targets\":[", out);
	for (size_t i = 0; h->targets && i < h->nr_targets; i++) {
		const char *comm = h->target_names ? h->target_names[i] : NULL;

		fprintf(out, "%s{\"pid\":%u,\"name\":", i ? "," : "", h->targets[i].pid);
		if (comm)
			json_string(out, comm, SIZE_MAX);
		else
			fputs("null", out);
		fputs(",\"service_name\":", out);
		json_string(out, h->targets[i].service_name, sizeof(h->targets[i].service_name));
		fputc('}', out);
	}
	fputs("],", out);
}

static void json_totals(FILE *out, const struct top_row *all)
{
	fputs("\"totals\":{", out);
	json_u64(out, "requests", all->total);
	fputc(',', out);
	json_u64(out, "interval_requests", all->interval);
	fputc(',', out);
	json_number(out, "rate", all->rate);
	fputc(',', out);
	json_u64(out, "active", all->active);
	fputc(',', out);
	json_interval(out, all);
	fputs("},", out);
}

static void json_agent(FILE *out, const struct top_header *h)
{
	fputs("\"agent\":{", out);
	json_u64(out, "requests_dropped", at(h->events, OA_EV_REQUESTS_DROPPED));
	fputc(',', out);
	json_u64(out, "map_update_errors", map_errors_sum(h->map_errors));
	fputc(',', out);
	json_u64(out, "not_http_connections", at(h->events, OA_EV_NOT_HTTP));
	fputc(',', out);
	json_u64(out, "unmatched_responses", at(h->events, OA_EV_UNMATCHED_RESPONSES));
	fputs("},", out);
}

static void json_row(FILE *out, const struct top_row *r)
{
	fputs("{\"method\":", out);
	json_string(out, method_name(r->method), SIZE_MAX);
	fputs(",\"route\":", out);
	json_string(out, r->overflow ? "" : r->route, sizeof(r->route));
	fprintf(out, ",\"overflow\":%s,", r->overflow ? "true" : "false");
	json_u64(out, "total", r->total);
	fputc(',', out);
	json_u64(out, "interval_requests", r->interval);
	fputc(',', out);
	json_number(out, "rate", r->rate);
	fputc(',', out);
	json_interval(out, r);
	fputc(',', out);
	json_u64(out, "active", r->active);
	fputc('}', out);
}

int top_format_json(FILE *out, const struct top_table *t, const struct top_header *h,
		    double unix_time)
{
	if (!out || !t || !h || (t->nr && !t->rows))
		return -EINVAL;
	fputs("{", out);
	json_number(out, "time", unix_time);
	fputc(',', out);
	json_number(out, "interval_s", t->interval_s);
	fputs(",\"quantiles\":\"histogram_quantile\",", out);
	json_targets(out, h);
	json_totals(out, &t->all);
	json_agent(out, h);
	fputs("\"rows\":[", out);
	for (size_t i = 0; i < t->nr; i++) {
		if (i)
			fputc(',', out);
		json_row(out, &t->rows[i]);
	}
	fputs("]}\n", out);
	return ferror(out) ? -EIO : 0;
}
