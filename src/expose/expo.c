// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the exposition writer (expo.h). Most of a scrape is histogram
 * lines: what they repeat (name, labels, le) is escaped once and copied per
 * line, and each line is written in place into the output buffer.
 */
#include <stdbool.h>
#include <string.h>

#include "expose/expo.h"

/*
 * What the lines of one histogram repeat, in expo.line: from 0,
 * name_bucket{labels,le=" (bucket_len bytes); at sum_off, name_sum{labels}
 * and a space; at count_off, the same for _count.
 */
struct hist_heads {
	size_t bucket_len;
	size_t sum_off, sum_len;
	size_t count_off, count_len;
};

static const struct le_text le_inf = { "+Inf\"} ", 7 };

int expo_init(struct expo *e, enum oa_format fmt, FILE *out)
{
	memset(e, 0, sizeof(*e));
	e->fmt = fmt;
	return out_init(&e->out, out);
}

int expo_finish(struct expo *e)
{
	if (e->fmt == OA_FORMAT_OPENMETRICS)
		out_put(&e->out, "# EOF\n", 6);
	text_free(&e->line);
	text_free(&e->labels);
	return out_finish(&e->out);
}

void expo_text_err(struct expo *e, const struct text *t)
{
	if (t->err && !e->out.err)
		e->out.err = t->err;
}

void put_text(struct expo *e)
{
	expo_text_err(e, &e->line);
	out_put(&e->out, e->line.p, e->line.len);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

void put_family(struct expo *e, const char *name, const char *type, const char *unit,
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

void put_sample(struct expo *e, const char *name, const struct labels *ls, const char *value)
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

void put_u64(struct expo *e, const char *name, const struct labels *ls, __u64 v)
{
	char num[U64_LEN + 1];

	*u64_text(num, v) = '\0';
	put_sample(e, name, ls, num);
}

struct label_text escape_labels(struct expo *e, const struct labels *ls)
{
	e->labels.len = 0;
	text_labels(&e->labels, ls);
	expo_text_err(e, &e->labels);
	return (struct label_text){ e->labels.p, e->labels.len };
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

/* Builds what the lines of a histogram repeat in e->line: 0, or -ENOMEM (e failed). */
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
		expo_text_err(e, t);
		return -t->err;
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

void put_histogram(struct expo *e, const char *name, const struct label_text *lt,
		   const struct hist_layout *h, const struct http_stats *v)
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

void put_size_histogram(struct expo *e, const char *name, const struct label_text *lt,
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
