/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Writing text fast: a growable string for the parts of a line built once
 * and copied many times, and a buffered writer that hands a FILE big blocks.
 * An exposition is hundreds of thousands of short fields; a stdio call or
 * a printf per field cost more than the bytes themselves (src/expose/expo.c).
 */
#ifndef OA_TEXT_OUT_H
#define OA_TEXT_OUT_H

#include <stdio.h>
#include <linux/types.h>

/* Bytes gathered before one fwrite. */
#define OUT_BUF_LEN (64 * 1024)
/* Digits of the largest __u64. */
#define U64_LEN 20

/* A growable string; err is ENOMEM once growing failed (the text is then cut). */
struct text {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

void text_free(struct text *t);
void text_put(struct text *t, const char *s, size_t n);
void text_str(struct text *t, const char *s);
void text_char(struct text *t, char c);
/*
 * A label value: backslash, double quote and newline escaped; bytes that
 * are not UTF-8 (scrapers reject the whole exposition for one) become U+FFFD.
 */
void text_escaped(struct text *t, const char *v, size_t n);
/*
 * Room for n more bytes at the returned end of t, to write in place and end
 * with text_commit; NULL (t->err set) when t cannot grow.
 */
char *text_reserve(struct text *t, size_t n);
void text_commit(struct text *t, const char *end);
/* The most bytes an escaped value of n bytes takes: a byte becomes at most three (U+FFFD). */
#define ESCAPED_MAX(n) (3 * (n))
/* Writes v escaped (as text_escaped) at p, which has room for ESCAPED_MAX(n); returns the end. */
char *escape_to(char *p, const char *v, size_t n);

/* Writes v in decimal at p (at most U64_LEN bytes); returns the end. */
char *u64_text(char *p, __u64 v);

/* Gathers writes for f; err is the first error (ENOMEM, EIO), after which nothing is written. */
struct out_buf {
	FILE *f;
	char *buf; /* OUT_BUF_LEN bytes */
	size_t used;
	int err;
};

/* 0, or -ENOMEM. */
int out_init(struct out_buf *o, FILE *f);
void out_put(struct out_buf *o, const char *s, size_t n);
/*
 * Room for n more bytes (n at most OUT_BUF_LEN), for a line written in
 * place and ended with out_commit; NULL when n is larger or after an error.
 */
char *out_reserve(struct out_buf *o, size_t n);
void out_commit(struct out_buf *o, const char *end);
/* Writes what is gathered; 0, or -errno of the first error. Frees the buffer. */
int out_finish(struct out_buf *o);

#endif /* OA_TEXT_OUT_H */
