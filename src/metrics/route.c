/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns routes: kernel path -> http.route. User templates come first (the
 * first that matches names the route); a path no template matches is
 * collapsed by the heuristic: identifiers become {id} (the kernel did that
 * already for numbers, UUIDs and long hex) and long random tokens become
 * {token}, while words, versions ("v1") and file names stay, as they name
 * the route. The route is then matched against the ignore patterns.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "http_parse.h"
#include "metrics/route.h"
#include "metrics/series.h"

/* A token has at least one change of character class per this many bytes. */
#define TOKEN_BYTES_PER_CHANGE 4

/* The limits the messages of route_check_template and route_check_pattern state. */
_Static_assert(OA_MAX_ROUTE - 1 == 191, "route_check_template says 191 bytes");
_Static_assert(ROUTE_MAX_PATTERN == 255, "route_check_pattern says 255 bytes");

/* The kernel's own rule (include/http_parse.h), so both sides call the same segments ids. */
bool route_is_id(const char *s, size_t n)
{
	struct http_seg seg;
	size_t i;

	if (!s)
		return false;
	http_seg_begin(&seg, 0);
	for (i = 0; i < n; i++)
		http_seg_byte(&seg, s[i]);
	return http_seg_is_id(&seg);
}

enum char_class {
	CL_SEP, /* '-', '_', '.': separates words, never a change */
	CL_LOWER,
	CL_UPPER,
	CL_DIGIT,
	CL_OTHER, /* anything else: not a token */
};

static enum char_class char_class(char c)
{
	if (c >= 'a' && c <= 'z')
		return CL_LOWER;
	if (c >= 'A' && c <= 'Z')
		return CL_UPPER;
	if (isdigit((unsigned char)c))
		return CL_DIGIT;
	if (c == '-' || c == '_' || c == '.')
		return CL_SEP;
	return CL_OTHER;
}

/*
 * Random tokens (base64url, session ids, JWTs) switch between lowercase,
 * uppercase and digits every few bytes; words, slugs, versions and file
 * names do not: "report-2024-final-version.pdf" has no change at all (a
 * change across a separator does not count), "auth-service-v2" one. An
 * uppercase letter followed by a lowercase one is how a capitalised word
 * starts, so it is not a change either.
 */
bool route_is_token(const char *s, size_t n)
{
	size_t i, changes = 0;
	int letter = 0, digit = 0;
	enum char_class prev = CL_SEP;

	if (!s || n < ROUTE_MIN_TOKEN)
		return false;
	for (i = 0; i < n; i++) {
		enum char_class c = char_class(s[i]);

		if (c == CL_OTHER)
			return false;
		letter |= c == CL_LOWER || c == CL_UPPER;
		digit |= c == CL_DIGIT;
		if (c != CL_SEP && prev != CL_SEP && c != prev &&
		    !(prev == CL_UPPER && c == CL_LOWER))
			changes++;
		prev = c;
	}
	return letter && digit && changes * TOKEN_BYTES_PER_CHANGE >= n;
}

/* Append what fits, always leaving room for the NUL. */
static void put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	size_t room = outlen - 1 - *o;

	if (n > room)
		n = room;
	memcpy(out + *o, s, n);
	*o += n;
}

int route_heuristic(const char *path, char *out, size_t outlen)
{
	size_t o = 0;

	if (!out || outlen == 0)
		return 0;
	if (!path || !*path)
		path = "/";
	while (*path) {
		size_t n = strcspn(path, "/");

		if (n == 0) {
			put(out, outlen, &o, "/", 1);
			path++;
			continue;
		}
		if (route_is_id(path, n))
			put(out, outlen, &o, ROUTE_ID, strlen(ROUTE_ID));
		else if (route_is_token(path, n))
			put(out, outlen, &o, ROUTE_TOKEN, strlen(ROUTE_TOKEN));
		else
			put(out, outlen, &o, path, n);
		path += n;
	}
	out[o] = '\0';
	return (int)o;
}

static bool is_placeholder(const char *seg, size_t n)
{
	return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

int route_check_template(const char *tmpl, const char **why)
{
	const char *seg;
	size_t i, len;

	if (!tmpl || !*tmpl) {
		*why = "is empty";
		return -EINVAL;
	}
	len = strlen(tmpl);
	if (tmpl[0] != '/') {
		*why = "must start with '/'";
		return -EINVAL;
	}
	if (len >= OA_MAX_ROUTE) {
		*why = "is too long (at most 191 bytes)";
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (tmpl[i] < 0x21 || tmpl[i] > 0x7e) {
			*why = "has a blank or a byte that is not printable ASCII";
			return -EINVAL;
		}
		if (tmpl[i] == '?' || tmpl[i] == '#') {
			*why = "has '?' or '#': the query and fragment are never part of a route";
			return -EINVAL;
		}
	}
	for (seg = tmpl; *seg;) {
		size_t n = strcspn(seg, "/");
		size_t braces = 0;

		for (i = 0; i < n; i++)
			braces += seg[i] == '{' || seg[i] == '}';
		if (braces && (braces != 2 || !is_placeholder(seg, n))) {
			*why = "has a brace outside a placeholder: a placeholder is a whole segment "
			       "with a name, as in /users/{id}";
			return -EINVAL;
		}
		seg += n;
		if (*seg)
			seg++;
	}
	return 0;
}

bool route_match(const char *t, const char *p)
{
	if (!t || !p)
		return false;
	for (;;) {
		size_t tn = strcspn(t, "/"), pn = strcspn(p, "/");

		if (is_placeholder(t, tn)) {
			if (!pn)
				return false;
		} else if (tn != pn || memcmp(t, p, tn)) {
			return false;
		}
		t += tn;
		p += pn;
		if (!*t || !*p)
			return !*t && !*p;
		t++; /* both are at a '/' */
		p++;
	}
}

int route_check_pattern(const char *pattern, const char **why)
{
	size_t i, len;

	if (!pattern || !*pattern) {
		*why = "is empty";
		return -EINVAL;
	}
	len = strlen(pattern);
	if (len > ROUTE_MAX_PATTERN) {
		*why = "is too long (at most 255 bytes)";
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (pattern[i] < 0x21 || pattern[i] > 0x7e) {
			*why = "has a blank or a byte that is not printable ASCII";
			return -EINVAL;
		}
	}
	return 0;
}

/* Backtracks only to the last '*', so it is linear in practice and never recursive. */
bool route_glob(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	if (!p || !s)
		return false;
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p && *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

bool route_resolve(const struct route_rules *rules, const char *path, char *out, size_t outlen)
{
	size_t i;
	bool matched = false;

	if (!out || outlen == 0)
		return false;
	if (!path || !*path)
		path = "/";
	for (i = 0; rules && i < rules->nr_templates && !matched; i++) {
		const char *t = rules->templates[i];

		if (route_match(t, path)) {
			size_t n = strlen(t);

			if (n > outlen - 1)
				n = outlen - 1;
			memcpy(out, t, n);
			out[n] = '\0';
			matched = true;
		}
	}
	if (!matched)
		route_heuristic(path, out, outlen);
	for (i = 0; rules && i < rules->nr_ignores; i++) {
		if (route_glob(rules->ignores[i], out))
			return true;
	}
	return false;
}
