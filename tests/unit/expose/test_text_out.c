// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for src/expose/text_out.c: growable strings, label escaping, numbers, buffered output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose/text_out.h"

/* v escaped by text_escaped, as a C string the test frees. */
static char *escaped(const char *v, size_t n)
{
	struct text t = { 0 };
	char *s;

	text_escaped(&t, v, n);
	assert_int_equal(t.err, 0);
	s = strndup(t.p ? t.p : "", t.len);
	text_free(&t);
	return s;
}

#define assert_escaped(in, want)                         \
	do {                                             \
		char *got = escaped(in, sizeof(in) - 1); \
		assert_string_equal(got, want);          \
		free(got);                               \
	} while (0)

static void test_escape(void **state)
{
	(void)state;
	assert_escaped("", "");
	assert_escaped("/api/users/{id}", "/api/users/{id}");
	assert_escaped("a\\b\"c\nd", "a\\\\b\\\"c\\nd");
	/* valid UTF-8 is kept, whatever its length */
	assert_escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* a stray byte, a cut sequence, an overlong form, a surrogate: each byte is U+FFFD */
	assert_escaped("\xff", "\xef\xbf\xbd");
	assert_escaped("x\xc3", "x\xef\xbf\xbd");
	assert_escaped("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");
	assert_escaped("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_escaped("\xe2\x82(", "\xef\xbf\xbd\xef\xbf\xbd(");
}

/* The most a value can grow to: every byte a U+FFFD. */
static void test_escape_max(void **state)
{
	char in[64], *out = malloc(ESCAPED_MAX(sizeof(in)));
	char *end;

	(void)state;
	memset(in, 0xff, sizeof(in));
	end = escape_to(out, in, sizeof(in));
	assert_int_equal(end - out, ESCAPED_MAX(sizeof(in)));
	free(out);
}

static void test_text_grows(void **state)
{
	struct text t = { 0 };
	char *p;

	(void)state;
	for (int i = 0; i < 10000; i++)
		text_str(&t, "0123456789");
	text_char(&t, '!');
	/* a number written in place, as the label and line writers do */
	p = text_reserve(&t, U64_LEN);
	assert_non_null(p);
	text_commit(&t, u64_text(p, 18446744073709551615ULL));
	assert_int_equal(t.err, 0);
	assert_int_equal(t.len, 100000 + 1 + 20);
	assert_memory_equal(t.p + 99990, "0123456789!18446744073709551615", 31);
	p = text_reserve(&t, 3);
	assert_non_null(p);
	memcpy(p, "abc", 3);
	text_commit(&t, p + 3);
	assert_int_equal(t.len, 100024);
	text_free(&t);
	assert_null(t.p);
	assert_int_equal(t.len, 0);
}

/* Nothing written to a text that has nothing yet: it stays empty, without pointer arithmetic on NULL. */
static void test_empty_into_empty(void **state)
{
	struct text t = { 0 };
	char *p;

	(void)state;
	text_escaped(&t, "", 0);
	text_put(&t, "", 0);
	p = text_reserve(&t, 0);
	assert_non_null(p);
	text_commit(&t, p);
	assert_int_equal(t.len, 0);
	assert_int_equal(t.err, 0);
	text_free(&t);
}

static void test_u64(void **state)
{
	static const struct {
		__u64 v;
		const char *text;
	} cases[] = {
		{ 0, "0" },
		{ 9, "9" },
		{ 10, "10" },
		{ 99, "99" },
		{ 1000000, "1000000" },
		{ 18446744073709551615ULL, "18446744073709551615" },
	};
	char buf[U64_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		*u64_text(buf, cases[i].v) = '\0';
		assert_string_equal(buf, cases[i].text);
	}
}

/* Small writes, writes larger than the buffer and lines written in place keep their order. */
static void test_out_order(void **state)
{
	size_t big = 3 * OUT_BUF_LEN + 7, len = 0, want_len = 0;
	char *text = NULL, *want = malloc(big * 2 + 64), *blob = malloc(big), *p;
	FILE *f = open_memstream(&text, &len);
	struct out_buf o;

	(void)state;
	for (size_t i = 0; i < big; i++)
		blob[i] = (char)('a' + i % 26);
	assert_int_equal(out_init(&o, f), 0);
	for (int round = 0; round < 2; round++) {
		out_put(&o, "head ", 5);
		memcpy(want + want_len, "head ", 5);
		want_len += 5;
		out_put(&o, blob, big);
		memcpy(want + want_len, blob, big);
		want_len += big;
		p = out_reserve(&o, 6);
		assert_non_null(p);
		memcpy(p, " tail\n", 6);
		out_commit(&o, p + 6);
		memcpy(want + want_len, " tail\n", 6);
		want_len += 6;
	}
	assert_null(out_reserve(&o, OUT_BUF_LEN + 1));
	assert_int_equal(out_finish(&o), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(text, want, len);
	free(text);
	free(want);
	free(blob);
}

/* A FILE that cannot be written: the first error is what out_finish reports. */
static void test_out_error(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	struct out_buf o;
	char *blob = calloc(1, 2 * OUT_BUF_LEN);

	(void)state;
	if (!f) {
		free(blob);
		skip();
	}
	assert_int_equal(out_init(&o, f), 0);
	out_put(&o, blob, 2 * OUT_BUF_LEN);
	out_put(&o, "x", 1);
	assert_int_equal(o.err, EIO);
	assert_null(out_reserve(&o, 1));
	assert_int_equal(out_finish(&o), -EIO);
	fclose(f);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),	   cmocka_unit_test(test_escape_max),
		cmocka_unit_test(test_text_grows), cmocka_unit_test(test_empty_into_empty),
		cmocka_unit_test(test_u64),	   cmocka_unit_test(test_out_order),
		cmocka_unit_test(test_out_error),
	};

	return cmocka_run_group_tests_name("text_out", tests, NULL, NULL);
}
