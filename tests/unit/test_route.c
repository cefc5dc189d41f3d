/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Unit tests for src/route.c: which path segments become {id}, and truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "route.h"
#include "series.h"

static void check(const char *path, const char *want)
{
	char out[OA_MAX_ROUTE];
	int n = route_template(path, out, sizeof(out));

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_examples(void **state)
{
	(void)state;
	check("/api/users/42", "/api/users/{id}");
	check("/api/hello.world", "/api/hello.world");
	check("/", "/");
	check("", "/");
	check(NULL, "/");
	check("/42", "/{id}");
	check("/users/42/orders/7", "/users/{id}/orders/{id}");
	check("/0", "/{id}");
}

static void test_slashes_kept(void **state)
{
	(void)state;
	check("/api//users/42/", "/api//users/{id}/");
	check("//", "//");
	check("/users/42//", "/users/{id}//");
	check("*", "*");
}

static void test_uuid(void **state)
{
	(void)state;
	check("/o/123e4567-e89b-12d3-a456-426614174000", "/o/{id}");
	check("/o/123E4567-E89B-12D3-A456-426614174000/items", "/o/{id}/items");
	check("/o/AbCdEf01-e89b-12d3-a456-426614174000", "/o/{id}");
	/* Wrong grouping, wrong length or a non-hex letter is not a UUID. */
	check("/o/123e4567e-89b-12d3-a456-426614174000", "/o/123e4567e-89b-12d3-a456-426614174000");
	check("/o/123e4567-e89b-12d3-a456-42661417400", "/o/123e4567-e89b-12d3-a456-42661417400");
	check("/o/123g4567-e89b-12d3-a456-426614174000", "/o/123g4567-e89b-12d3-a456-426614174000");
}

static void test_hex_id(void **state)
{
	(void)state;
	check("/commit/0123456789abcdef", "/commit/{id}");
	check("/commit/9F86D081884C7D659A2FEAA0C55AD015", "/commit/{id}");
	check("/blob/da39a3ee5e6b4b0d3255bfef95601890afd80709/raw", "/blob/{id}/raw");
	/* 15 characters: too short to tell from a word. */
	check("/commit/0123456789abcde", "/commit/0123456789abcde");
	/* Hex letters only, no digit: a word. */
	check("/x/deadbeefdeadbeefcafe", "/x/deadbeefdeadbeefcafe");
	check("/x/0123456789abcdefg", "/x/0123456789abcdefg");
}

static void test_words_kept(void **state)
{
	(void)state;
	check("/cafe", "/cafe");
	check("/api/v1/users", "/api/v1/users");
	check("/static/hello.world", "/static/hello.world");
	check("/files/report-2024.pdf", "/files/report-2024.pdf");
	check("/a1", "/a1");
	check("/42abc", "/42abc");
	check("/-1", "/-1");
}

static void test_truncation(void **state)
{
	char out[8];
	int n;

	(void)state;
	memset(out, 'Z', sizeof(out));
	n = route_template("/api/users/42", out, sizeof(out));
	assert_int_equal(n, 7);
	assert_string_equal(out, "/api/us");

	memset(out, 'Z', sizeof(out));
	n = route_template("/users/42", out, sizeof(out));
	assert_int_equal(n, 7);
	assert_string_equal(out, "/users/");

	/* The placeholder itself is cut, never written past outlen. */
	memset(out, 'Z', sizeof(out));
	n = route_template("/u/42", out, 6);
	assert_int_equal(n, 5);
	assert_string_equal(out, "/u/{i");
	assert_int_equal(out[6], 'Z');

	n = route_template("/api", out, 1);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");

	out[0] = 'Z';
	n = route_template("/api", out, 0);
	assert_int_equal(n, 0);
	assert_int_equal(out[0], 'Z');
}

static void test_longest_path_expands(void **state)
{
	char path[OA_MAX_PATH], out[OA_MAX_ROUTE];
	size_t i;
	int n;

	(void)state;
	/* "/1/1/..." grows by 3 bytes per segment, beyond OA_MAX_ROUTE. */
	for (i = 0; i + 1 < sizeof(path); i += 2) {
		path[i] = '/';
		path[i + 1] = '1';
	}
	path[sizeof(path) - 1] = '\0';
	n = route_template(path, out, sizeof(out));
	assert_int_equal(n, sizeof(out) - 1);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_memory_equal(out, "/{id}/{id}", 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_slashes_kept),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_hex_id),
		cmocka_unit_test(test_words_kept),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_longest_path_expands),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
