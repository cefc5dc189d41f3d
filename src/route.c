/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns route templating: raw URL path -> http.route template. Identifiers in
 * paths would give one series per user or object, so they are folded into
 * {id}; words, versions ("v1") and file names stay, as they name the route.
 */
#include <string.h>

#include "route.h"

#define UUID_LEN 36
/* Shorter hex strings are too often real words ("cafe", "beef", "added"). */
#define MIN_HEX_ID 16

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_number(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return 0;
	return n > 0;
}

static int is_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != UUID_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return 0;
	}
	return 1;
}

static int is_hex_id(const char *s, size_t n)
{
	size_t i;
	int digit = 0;

	if (n < MIN_HEX_ID)
		return 0;
	for (i = 0; i < n; i++) {
		if (!is_hex(s[i]))
			return 0;
		digit |= is_digit(s[i]);
	}
	return digit;
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

int route_template(const char *path, char *out, size_t outlen)
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
		if (is_number(path, n) || is_uuid(path, n) || is_hex_id(path, n))
			put(out, outlen, &o, "{id}", 4);
		else
			put(out, outlen, &o, path, n);
		path += n;
	}
	out[o] = '\0';
	return (int)o;
}
