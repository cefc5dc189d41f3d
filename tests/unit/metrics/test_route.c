/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for src/metrics/route.c: which path segments become {id} and {token},
 * truncation, route templates, ignore globs, and how route_resolve combines them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "metrics/route.h"
#include "metrics/series.h"

/* A rule set that none of the paths below matches: route_resolve falls back on the heuristic. */
static const char *const never_templates[] = { "/never/{matched}" };
static const char *const never_ignores[] = { "/never*" };
static const struct route_rules never = { never_templates, 1, never_ignores, 1 };

/* The heuristic's route of path, the same whether asked for directly or through route_resolve. */
static void check(const char *path, const char *want)
{
	char out[OA_MAX_ROUTE];
	int n = route_heuristic(path, out, sizeof(out));

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	memset(out, 'Z', sizeof(out));
	assert_false(route_resolve(&never, path, out, sizeof(out)));
	assert_string_equal(out, want);
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

/* The id rules on one segment, as the kernel applies them. */
static void test_is_id(void **state)
{
	(void)state;
	assert_true(route_is_id("42", 2));
	assert_true(route_is_id("0", 1));
	assert_true(route_is_id("123e4567-e89b-12d3-a456-426614174000", 36));
	assert_true(route_is_id("0123456789abcdef", 16));
	assert_false(route_is_id("0123456789abcde", 15));
	assert_false(route_is_id("deadbeefdeadbeef", 16)); /* no digit */
	assert_false(route_is_id("v1", 2));
	assert_false(route_is_id("-1", 2));
	/* the length given counts, not the NUL */
	assert_true(route_is_id("12a", 2));
	assert_false(route_is_id("", 0));
	assert_false(route_is_id(NULL, 0));
	assert_false(route_is_id("*123", 4)); /* '*' of "OPTIONS *123" is part of the segment */
}

/* Segments longer than the kernel's 255-byte segment counter are judged whole. */
static void test_is_id_long(void **state)
{
	char s[300];

	(void)state;
	memset(s, '7', sizeof(s));
	assert_true(route_is_id(s, sizeof(s)));
	s[0] = 'a';
	assert_true(route_is_id(s, sizeof(s))); /* hex with a digit */
	s[sizeof(s) - 1] = 'g';
	assert_false(route_is_id(s, sizeof(s)));
	memcpy(s, "123e4567-e89b-12d3-a456-426614174000", 36);
	assert_false(route_is_id(s, 36 + 256)); /* a UUID is 36 bytes, not 36 modulo 256 */
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

/* path's route cut to outlen (want), by both, and nothing written past outlen. */
static void check_cut(const char *path, size_t outlen, const char *want)
{
	char out[8], resolved[8];

	memset(out, 'Z', sizeof(out));
	memset(resolved, 'Z', sizeof(resolved));
	assert_int_equal(route_heuristic(path, out, outlen), strlen(want));
	assert_false(route_resolve(&never, path, resolved, outlen));
	if (outlen)
		assert_string_equal(out, want);
	for (size_t i = outlen; i < sizeof(out); i++)
		assert_int_equal(out[i], 'Z');
	assert_memory_equal(resolved, out, sizeof(out));
}

static void test_truncation(void **state)
{
	(void)state;
	check_cut("/api/users/42", 8, "/api/us");
	check_cut("/users/42", 8, "/users/");
	/* The placeholder itself is cut, never written past outlen. */
	check_cut("/u/42", 6, "/u/{i");
	check_cut("/api", 1, "");
	check_cut("/api", 0, "");
}

static void test_longest_path_expands(void **state)
{
	char path[OA_MAX_PATH], out[OA_MAX_ROUTE], resolved[OA_MAX_ROUTE];
	size_t i;
	int n;

	(void)state;
	/* "/1/1/..." grows by 3 bytes per segment, beyond OA_MAX_ROUTE. */
	for (i = 0; i + 1 < sizeof(path); i += 2) {
		path[i] = '/';
		path[i + 1] = '1';
	}
	path[sizeof(path) - 1] = '\0';
	n = route_heuristic(path, out, sizeof(out));
	assert_int_equal(n, sizeof(out) - 1);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_memory_equal(out, "/{id}/{id}", 10);
	assert_false(route_resolve(&never, path, resolved, sizeof(resolved)));
	assert_string_equal(resolved, out);
}

static void test_tokens(void **state)
{
	static const char token[] = "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

	(void)state;
	/* base64url (a random 32-byte value), session ids, API keys, nanoids */
	check("/s/dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "/s/{token}");
	check("/session/sess_8f7a9c2e1b4d6f3a0c5e7b9d/end", "/session/{token}/end");
	check("/k/sk_live_51H8x2CJzK3mNpQrStUvWxYz", "/k/{token}");
	check("/n/V1StGXR8_Z5jdHi6B-myT", "/n/{token}");
	check("/reset/a3f9K2mQ8xL1pZ7vB4nR6tY0", "/reset/{token}");
	check("/x/a1b2c3d4e5f6g7h8i9j0", "/x/{token}");
	/* a JWT: three base64url parts joined by dots */
	check("/auth/eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
	      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c/refresh",
	      "/auth/{token}/refresh");
	/* ids first, as the kernel does; tokens next to them */
	check("/u/42/t/x7kq9m2vb8n4zc6lp0wr", "/u/{id}/t/{token}");
	check("/u/{id}/t/x7kq9m2vb8n4zc6lp0wr", "/u/{id}/t/{token}");
	/* a token is never an id: the kernel, which applies the id rules only, keeps it */
	assert_true(route_is_token(token, strlen(token)));
	assert_false(route_is_id(token, strlen(token)));
}

static void test_not_tokens(void **state)
{
	(void)state;
	check("/api/hello.world", "/api/hello.world");
	check("/v2", "/v2");
	check("/svc/auth-service-v2/health", "/svc/auth-service-v2/health");
	/* long, with digits, but words: no class change inside a word */
	check("/f/report-2024-final-version.pdf", "/f/report-2024-final-version.pdf");
	check("/k/kubernetes-dashboard-v1-2-3", "/k/kubernetes-dashboard-v1-2-3");
	check("/b/very-long-article-title-about-http2-and-tls13",
	      "/b/very-long-article-title-about-http2-and-tls13");
	check("/d/2024-01-15-release-notes-v2", "/d/2024-01-15-release-notes-v2");
	check("/m/mp4-h264-aac-1080p-x265", "/m/mp4-h264-aac-1080p-x265");
	check("/w/Windows10-x64-Setup-22H2.iso", "/w/Windows10-x64-Setup-22H2.iso");
	/* camelCase: a capital starting a word is not a change */
	check("/a/getUserProfileSettingsV2", "/a/getUserProfileSettingsV2");
	/* long words without digits, or digits without letters (not an id: a dash) */
	check("/a/internationalization-settings", "/a/internationalization-settings");
	check("/a/AbCdEfGhIjKlMnOpQrStUvWx", "/a/AbCdEfGhIjKlMnOpQrStUvWx");
	check("/p/1234-5678-9012-3456-7890", "/p/1234-5678-9012-3456-7890");
	/* 19 bytes: too short whatever it looks like */
	check("/x/a1b2c3d4e5f6g7h8i9", "/x/a1b2c3d4e5f6g7h8i9");
	/* bytes outside [A-Za-z0-9_.-]: percent-encoding, '~', '+', '=' */
	check("/s/s%3Aa1B2c3D4e5F6g7H8i9J0", "/s/s%3Aa1B2c3D4e5F6g7H8i9J0");
	check("/s/a1B2c3D4e5F6g7H8i9J0k1==", "/s/a1B2c3D4e5F6g7H8i9J0k1==");
	check("/s/a1B2c3D4e5F6g7H8i9J0+k1", "/s/a1B2c3D4e5F6g7H8i9J0+k1");
	check("/", "/");
	check(NULL, "/");
	assert_false(route_is_token(NULL, 0));
	assert_false(route_is_token("", 0));
	/* the length given counts, not the NUL */
	assert_true(route_is_token("a1b2c3d4e5f6g7h8i9j0", 20));
	assert_false(route_is_token("a1b2c3d4e5f6g7h8i9j0", 19));
}

static void test_template_check(void **state)
{
	static const char *const good[] = {
		"/",
		"/api/users/{id}",
		"/api/{version}/users/{user_id}/orders/{order-id}",
		"/a/{b}/",
		"/{x}",
	};
	static const char *const bad[] = {
		"",
		"api/users",
		"/api/users/{id",
		"/api/users/id}",
		"/api/v{version}",
		"/api/{}",
		"/a/{{b}}",
		"/api/{a}{b}",
		"/api/users?x=1",
		"/api/users#top",
		"/api/ users",
		"/api/\tx",
		"/caf\xc3\xa9",
		"/files/{name}.bak",
	};
	char long_ok[OA_MAX_ROUTE], too_long[OA_MAX_ROUTE + 1];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (route_check_template(good[i], &why))
			fail_msg("%s: want ok got '%s'", good[i], why);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (!route_check_template(bad[i], &why))
			fail_msg("%s: want an error got ok", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(route_check_template(NULL, &why), -EINVAL);
	memset(long_ok, 'a', sizeof(long_ok));
	long_ok[0] = '/';
	long_ok[OA_MAX_ROUTE - 1] = '\0';
	assert_int_equal(route_check_template(long_ok, &why), 0);
	memset(too_long, 'a', sizeof(too_long));
	too_long[0] = '/';
	too_long[OA_MAX_ROUTE] = '\0';
	assert_int_equal(route_check_template(too_long, &why), -EINVAL);
}

static void test_template_match(void **state)
{
	(void)state;
	/* the kernel already wrote {id}: it matches a placeholder of any name */
	assert_true(route_match("/api/users/{id}", "/api/users/{id}"));
	assert_true(route_match("/api/users/{user}", "/api/users/{id}"));
	assert_true(route_match("/api/users/{user}", "/api/users/alice"));
	assert_true(route_match("/api/{v}/users/{u}", "/api/v2/users/{id}"));
	assert_true(route_match("/", "/"));
	assert_true(route_match("/a/", "/a/"));
	assert_true(route_match("/{x}", "/favicon.ico"));
	/* a literal segment must be equal; {id} is never equal to a literal */
	assert_false(route_match("/api/users/42", "/api/users/{id}"));
	assert_false(route_match("/api/users/me", "/api/users/{id}"));
	assert_false(route_match("/api/users/{u}", "/api/Users/{id}"));
	/* one segment each: no more, no fewer, never an empty one */
	assert_false(route_match("/api/users/{u}", "/api/users"));
	assert_false(route_match("/api/users/{u}", "/api/users/"));
	assert_false(route_match("/api/users/{u}", "/api/users/42/orders"));
	assert_false(route_match("/api/users/{u}", "/api/users/{id}/"));
	assert_false(route_match("/api/users/{u}", "/api/users//"));
	assert_false(route_match("/{x}", "/"));
	assert_false(route_match("/a", "/a/"));
	assert_false(route_match("/a/", "/a"));
	assert_false(route_match("/api", "/apiv2"));
	assert_false(route_match("/apiv2", "/api"));
	assert_false(route_match(NULL, "/"));
	assert_false(route_match("/", NULL));
}

static void test_glob(void **state)
{
	const char *why;

	(void)state;
	assert_true(route_glob("/healthz", "/healthz"));
	assert_false(route_glob("/healthz", "/healthz/live"));
	assert_false(route_glob("/healthz", "/health"));
	assert_true(route_glob("/healthz*", "/healthz/live"));
	assert_true(route_glob("/internal/*", "/internal/a/b/c"));
	assert_false(route_glob("/internal/*", "/internal"));
	assert_true(route_glob("*", "/anything"));
	assert_true(route_glob("*", ""));
	assert_true(route_glob("*/metrics", "/app/metrics"));
	assert_true(route_glob("*/metrics*", "/metrics/otel"));
	assert_true(route_glob("/users/{id}/*", "/users/{id}/avatar"));
	assert_false(route_glob("/users/{id}/*", "/users/alice/avatar"));
	assert_true(route_glob("/a*b*c", "/aXbYbZc"));
	assert_false(route_glob("/a*b*c", "/aXbYbZ"));
	assert_true(route_glob("**", "/x"));
	/* no other wildcard: '?' and '[' are themselves */
	assert_true(route_glob("/a?", "/a?"));
	assert_false(route_glob("/a?", "/ab"));
	assert_false(route_glob("/[ab]", "/a"));
	assert_false(route_glob(NULL, "/"));

	assert_int_equal(route_check_pattern("/healthz", &why), 0);
	assert_int_equal(route_check_pattern("*", &why), 0);
	assert_int_equal(route_check_pattern("", &why), -EINVAL);
	assert_int_equal(route_check_pattern("/a b", &why), -EINVAL);
	assert_int_equal(route_check_pattern(NULL, &why), -EINVAL);
}

static void test_resolve(void **state)
{
	static const char *const templates[] = { "/api/users/me", "/api/users/{user}",
						 "/api/{v}/items/{item}", "/api/users/{u}/x" };
	static const char *const ignores[] = { "/healthz", "/internal/*", "*/{token}" };
	const struct route_rules rules = { templates, 4, ignores, 3 };
	const struct route_rules none = { 0 };
	char out[OA_MAX_ROUTE];

	(void)state;
	/* the first template that matches, in order */
	assert_false(route_resolve(&rules, "/api/users/me", out, sizeof(out)));
	assert_string_equal(out, "/api/users/me");
	assert_false(route_resolve(&rules, "/api/users/{id}", out, sizeof(out)));
	assert_string_equal(out, "/api/users/{user}");
	assert_false(route_resolve(&rules, "/api/users/alice", out, sizeof(out)));
	assert_string_equal(out, "/api/users/{user}");
	assert_false(route_resolve(&rules, "/api/v1/items/{id}", out, sizeof(out)));
	assert_string_equal(out, "/api/{v}/items/{item}");
	/* no template: the heuristic */
	assert_false(route_resolve(&rules, "/api/users/alice/avatar", out, sizeof(out)));
	assert_string_equal(out, "/api/users/alice/avatar");
	assert_false(route_resolve(&rules, "/api/hello.world", out, sizeof(out)));
	assert_string_equal(out, "/api/hello.world");
	assert_false(route_resolve(&rules, "", out, sizeof(out)));
	assert_string_equal(out, "/");
	/* ignored: matched against the route, after templates and heuristic */
	assert_true(route_resolve(&rules, "/healthz", out, sizeof(out)));
	assert_true(route_resolve(&rules, "/internal/debug/{id}", out, sizeof(out)));
	assert_false(route_resolve(&rules, "/internal", out, sizeof(out)));
	assert_true(route_resolve(&rules, "/r/x7kq9m2vb8n4zc6lp0wr", out, sizeof(out)));
	assert_string_equal(out, "/r/{token}");
	/* a template wins over the heuristic, so a misjudged segment can be kept */
	assert_false(route_resolve(&none, "/r/x7kq9m2vb8n4zc6lp0wr", out, sizeof(out)));
	assert_string_equal(out, "/r/{token}");
	assert_false(route_resolve(NULL, "/users/42", out, sizeof(out)));
	assert_string_equal(out, "/users/{id}");
	/* cut to outlen like route_heuristic */
	assert_false(route_resolve(&rules, "/api/users/me", out, 5));
	assert_string_equal(out, "/api");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_slashes_kept),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_hex_id),
		cmocka_unit_test(test_is_id),
		cmocka_unit_test(test_is_id_long),
		cmocka_unit_test(test_words_kept),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_longest_path_expands),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_not_tokens),
		cmocka_unit_test(test_template_check),
		cmocka_unit_test(test_template_match),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
