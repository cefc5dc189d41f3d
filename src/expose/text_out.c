// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Writing text fast (text_out.h): the exposition of 2000 series is about
 * 86,000 lines; copying prepared bytes with memcpy and handing stdio 64 KiB
 * at a time is what keeps a scrape within milliseconds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "expose/text_out.h"

#define TEXT_MIN_CAP 256

/* Room for n more bytes; false (and t->err set) when it cannot grow. */
static bool text_room(struct text *t, size_t n)
{
	size_t cap = t->cap ? t->cap : TEXT_MIN_CAP;
	char *p;

	if (t->err)
		return false;
	/* a text with no buffer yet gets one even for 0 bytes: no arithmetic on NULL */
	if (t->p && t->len + n <= t->cap)
		return true;
	while (cap < t->len + n)
		cap *= 2;
	p = realloc(t->p, cap);
	if (!p) {
		t->err = ENOMEM;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

void text_free(struct text *t)
{
	free(t->p);
	*t = (struct text){ 0 };
}

void text_put(struct text *t, const char *s, size_t n)
{
	if (!n || !text_room(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

void text_char(struct text *t, char c)
{
	text_put(t, &c, 1);
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

/* ASCII that is copied as it is: most label values are nothing else. */
static bool plain_ascii(unsigned char c)
{
	return c < 0x80 && c != '\\' && c != '"' && c != '\n';
}

char *escape_to(char *p, const char *v, size_t n)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t i = 0, run, len;

	while (i < n) {
		for (run = i; run < n && plain_ascii(u[run]); run++)
			;
		memcpy(p, v + i, run - i);
		p += run - i;
		if (run == n)
			break;
		i = run;
		len = utf8_len(u + i, n - i);
		if (!len) {
			memcpy(p, "\xef\xbf\xbd", 3);
			p += 3;
			len = 1;
		} else if (v[i] == '\\' || v[i] == '"') {
			*p++ = '\\';
			*p++ = v[i];
		} else if (v[i] == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else {
			memcpy(p, v + i, len); /* at most 4 bytes for as many of v */
			p += len;
		}
		i += len;
	}
	return p;
}

void text_escaped(struct text *t, const char *v, size_t n)
{
	char *p = text_reserve(t, ESCAPED_MAX(n));

	if (p)
		text_commit(t, escape_to(p, v, n));
}

char *text_reserve(struct text *t, size_t n)
{
	return text_room(t, n) ? t->p + t->len : NULL;
}

void text_commit(struct text *t, const char *end)
{
	t->len = (size_t)(end - t->p);
}

char *u64_text(char *p, __u64 v)
{
	char digits[U64_LEN];
	size_t n = 0;

	if (v < 10) {
		*p = (char)('0' + v); /* most bucket counts of most series */
		return p + 1;
	}
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = digits[--n];
	return p;
}

int out_init(struct out_buf *o, FILE *f)
{
	o->f = f;
	o->used = 0;
	o->err = 0;
	o->buf = malloc(OUT_BUF_LEN);
	return o->buf ? 0 : -ENOMEM;
}

/* Hands what is gathered to the FILE; after an error the bytes are dropped. */
static void out_flush(struct out_buf *o)
{
	if (o->used && !o->err && fwrite(o->buf, 1, o->used, o->f) != o->used)
		o->err = EIO;
	o->used = 0;
}

void out_put(struct out_buf *o, const char *s, size_t n)
{
	if (o->used + n > OUT_BUF_LEN)
		out_flush(o);
	if (n > OUT_BUF_LEN) {
		/* larger than the buffer: straight to the FILE */
		if (!o->err && fwrite(s, 1, n, o->f) != n)
			o->err = EIO;
		return;
	}
	memcpy(o->buf + o->used, s, n);
	o->used += n;
}

char *out_reserve(struct out_buf *o, size_t n)
{
	if (n > OUT_BUF_LEN || o->err)
		return NULL;
	if (o->used + n > OUT_BUF_LEN)
		out_flush(o);
	return o->buf + o->used;
}

void out_commit(struct out_buf *o, const char *end)
{
	o->used = (size_t)(end - o->buf);
}

int out_finish(struct out_buf *o)
{
	int err;

	out_flush(o);
	if (!o->err && (fflush(o->f) || ferror(o->f)))
		o->err = EIO;
	err = o->err;
	free(o->buf);
	o->buf = NULL;
	return -err;
}
