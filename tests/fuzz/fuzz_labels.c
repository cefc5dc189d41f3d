/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer harness for label values and numbers as exposition text
 * (src/expose/text_out.c, labels.c, number.c; built and run by `make fuzz`).
 * An input is label values separated by 0xff bytes (never UTF-8), and, from
 * its first 8 bytes, a duration in nanoseconds and a bucket bound. Checked:
 *  - an escaped value fits ESCAPED_MAX and is valid UTF-8 whose only
 *    escapes are \\, \" and \n, with no bare '"' or newline;
 *  - unescaped, it is the value with each byte that does not start a valid
 *    UTF-8 sequence (decoded plainly below) replaced by U+FFFD, so exactly
 *    the value when the value is UTF-8;
 *  - text_escaped writes what escape_to does, and text_labels writes
 *    name="value",... that reads back as the names and the values;
 *  - fmt_seconds' fast path writes what its snprintf path writes, and both
 *    read back as ns / 1e9; fmt_le's forms read back as the bound, within
 *    NUM_LEN; number_value is the decimal of the number.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose/labels.h"
#include "expose/number.h"
#include "expose/text_out.h"

#define SEPARATOR  0xff
#define MAX_VALUES (MAX_LABELS + 2)

#define CHECK(cond, ...)                                             \
	do {                                                         \
		if (!(cond)) {                                       \
			fprintf(stderr, "fuzz_labels: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                \
			fputc('\n', stderr);                         \
			abort();                                     \
		}                                                    \
	} while (0)

/*
 * Bytes of the valid UTF-8 sequence at s[0..n), or 0: the lead byte's
 * length, continuation bytes, then the code point decoded and checked
 * (shortest form, no surrogate, at most U+10FFFF).
 */
static size_t plain_utf8(const unsigned char *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min_cp[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* v with each byte that starts no valid sequence replaced by U+FFFD; *out_len its length. */
static char *plain_sanitized(const char *v, size_t n, size_t *out_len, bool *was_utf8)
{
	char *out = malloc(3 * n + 1);
	size_t i = 0, o = 0;

	CHECK(out, "out of memory");
	*was_utf8 = true;
	while (i < n) {
		size_t len = plain_utf8((const unsigned char *)v + i, n - i);

		if (len) {
			memcpy(out + o, v + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			*was_utf8 = false;
		}
	}
	*out_len = o;
	return out;
}

/*
 * Reads an escaped value from e[0..n) up to a bare '"' (or the end when
 * quoted is false) into out; returns the bytes read, or aborts on an escape
 * Prometheus does not have, a bare newline or a bare quote in an unquoted value.
 */
static size_t unescape(const char *e, size_t n, bool quoted, char *out, size_t *out_len)
{
	size_t i = 0, o = 0;

	for (; i < n; i++) {
		if (e[i] == '"') {
			CHECK(quoted, "a bare quote in \"%.*s\"", (int)n, e);
			break;
		}
		CHECK(e[i] != '\n', "a bare newline in \"%.*s\"", (int)n, e);
		if (e[i] != '\\') {
			out[o++] = e[i];
			continue;
		}
		CHECK(i + 1 < n && (e[i + 1] == '\\' || e[i + 1] == '"' || e[i + 1] == 'n'),
		      "the escape at %zu of \"%.*s\" is not \\\\, \\\" or \\n", i, (int)n, e);
		i++;
		out[o++] = e[i] == 'n' ? '\n' : e[i];
	}
	*out_len = o;
	return i;
}

static void check_escaped(const char *v, size_t n, const char *esc, size_t elen)
{
	bool utf8, esc_utf8;
	size_t want_len, ulen, slen;
	char *want = plain_sanitized(v, n, &want_len, &utf8);
	char *un = malloc(elen + 1), *again;

	CHECK(un, "out of memory");
	CHECK(elen <= ESCAPED_MAX(n), "%zu bytes escaped to %zu", n, elen);
	again = plain_sanitized(esc, elen, &slen, &esc_utf8);
	CHECK(esc_utf8, "the escaped value is not UTF-8");
	free(again);
	CHECK(unescape(esc, elen, false, un, &ulen) == elen, "the value was not read to its end");
	CHECK(ulen == want_len && !memcmp(un, want, ulen),
	      "\"%.*s\" unescapes to \"%.*s\", not \"%.*s\"", (int)elen, esc, (int)ulen, un,
	      (int)want_len, want);
	CHECK(!utf8 || (ulen == n && !memcmp(un, v, n)), "a UTF-8 value did not round-trip");
	free(want);
	free(un);
}

/* escape_to into a buffer of exactly ESCAPED_MAX(n), and text_escaped onto a text. */
static void fuzz_value(const char *v, size_t n)
{
	struct text t = { 0 };
	char *buf = malloc(ESCAPED_MAX(n) ? ESCAPED_MAX(n) : 1), *end;

	CHECK(buf, "out of memory");
	end = escape_to(buf, v, n);
	CHECK(end >= buf && (size_t)(end - buf) <= ESCAPED_MAX(n), "escape_to wrote past its room");
	check_escaped(v, n, buf, (size_t)(end - buf));
	text_str(&t, "x");
	text_escaped(&t, v, n);
	text_escaped(&t, v, n);
	CHECK(!t.err && t.len == 1 + 2 * (size_t)(end - buf) && t.p[0] == 'x' &&
		      !memcmp(t.p + 1, buf, (size_t)(end - buf)) &&
		      !memcmp(t.p + 1 + (end - buf), buf, (size_t)(end - buf)),
	      "text_escaped wrote other bytes than escape_to");
	text_free(&t);
	free(buf);
}

static void fuzz_labels(const char *const *v, const size_t *len, size_t nr)
{
	static const char *const names[MAX_VALUES] = { "l0",  "l1",  "l2",  "l3",  "l4",  "l5",
						       "l6",  "l7",  "l8",  "l9",  "l10", "l11",
						       "l12", "l13", "l14", "l15", "l16", "l17" };
	struct labels ls = { 0 };
	struct text t = { 0 };
	size_t i, at = 0, kept = nr < MAX_LABELS ? nr : MAX_LABELS;
	char *un;

	for (i = 0; i < nr; i++) {
		/* an empty value is given as NULL, as the renderers do for a missing one */
		label_n(&ls, names[i], len[i] ? v[i] : NULL, len[i]);
	}
	CHECK(ls.n == kept, "%u labels kept of %zu", ls.n, nr);
	text_labels(&t, &ls);
	CHECK(!t.err, "text_labels: out of memory");
	un = malloc(t.len + 1);
	CHECK(un, "out of memory");
	for (i = 0; i < kept; i++) {
		size_t nlen = strlen(names[i]), ulen, want_len;
		bool utf8;
		char *want = plain_sanitized(v[i], len[i], &want_len, &utf8);

		if (i) {
			CHECK(at < t.len && t.p[at] == ',', "no comma before label %zu", i);
			at++;
		}
		CHECK(t.len - at > nlen + 1 && !memcmp(t.p + at, names[i], nlen) &&
			      t.p[at + nlen] == '=' && t.p[at + nlen + 1] == '"',
		      "label %zu does not start with %s=\"", i, names[i]);
		at += nlen + 2;
		at += unescape(t.p + at, t.len - at, true, un, &ulen);
		CHECK(at < t.len && t.p[at] == '"', "label %zu has no closing quote", i);
		at++;
		CHECK(ulen == want_len && !memcmp(un, want, ulen), "label %zu reads back otherwise",
		      i);
		free(want);
	}
	CHECK(at == t.len, "%zu bytes after the labels", t.len - at);
	free(un);
	text_free(&t);
}

static void fuzz_numbers(const uint8_t *data, size_t size)
{
	static const enum oa_format fmts[] = { OA_FORMAT_PROMETHEUS, OA_FORMAT_OPENMETRICS };
	char fast[NUM_LEN], slow[NUM_LEN], want[NUM_LEN];
	uint64_t ns = 0;
	double v;
	size_t i;

	memcpy(&ns, data, size < sizeof(ns) ? size : sizeof(ns));
	memcpy(&v, &ns, sizeof(v));

	fmt_seconds(fast, sizeof(fast), ns);
	fmt_seconds(slow, sizeof(slow) - 1, ns); /* a smaller buffer takes the snprintf path */
	CHECK(!strcmp(fast, slow), "fmt_seconds(%" PRIu64 "): \"%s\", snprintf \"%s\"", ns, fast,
	      slow);
	CHECK(strtod(fast, NULL) == (double)ns / 1e9, "fmt_seconds(%" PRIu64 ") \"%s\"", ns, fast);

	snprintf(want, sizeof(want), "%" PRIu64, ns);
	CHECK(!strcmp(number_value(fast, ns), want), "number_value: \"%s\", not %s", fast, want);

	if (isnan(v))
		return; /* a bound never is (buckets_check) */
	for (i = 0; i < 2; i++) {
		memset(fast, 0xAA, sizeof(fast));
		fmt_le(fast, sizeof(fast), v, fmts[i]);
		CHECK(memchr(fast, 0, sizeof(fast)), "fmt_le(%a) has no NUL", v);
		if (v > 0 && isinf(v)) {
			CHECK(!strcmp(fast, "+Inf"), "fmt_le(+Inf) \"%s\"", fast);
			continue;
		}
		if (isinf(v))
			continue; /* -Inf is never a bound */
		CHECK(strtod(fast, NULL) == v, "fmt_le(%a, %zu) \"%s\" reads back otherwise", v, i,
		      fast);
		CHECK(fmts[i] != OA_FORMAT_OPENMETRICS || strpbrk(fast, ".e"),
		      "OpenMetrics le \"%s\" reads as an integer", fast);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each value its own exact-size copy, so a read past one is ASan's to see. */
	char *value[MAX_VALUES];
	size_t len[MAX_VALUES], nr = 0, start = 0, i;

	for (i = 0; i <= size && nr < MAX_VALUES; i++) {
		if (i < size && data[i] != SEPARATOR)
			continue;
		len[nr] = i - start;
		value[nr] = malloc(len[nr] ? len[nr] : 1);
		CHECK(value[nr], "out of memory");
		memcpy(value[nr], data + start, len[nr]);
		fuzz_value(value[nr], len[nr]);
		nr++;
		start = i + 1;
	}
	fuzz_labels((const char *const *)value, len, nr);
	fuzz_numbers(data, size);
	for (i = 0; i < nr; i++)
		free(value[i]);
	return 0;
}
