/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns routes: turning the path the kernel keyed a series by into the
 * low-cardinality http.route that is exported, by user templates
 * (--route, `route` in the config file) or else by the heuristic that
 * replaces identifier-like segments, and the ignore patterns matched
 * against that route.
 */
#ifndef OA_ROUTE_H
#define OA_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* Placeholders the heuristic writes (the kernel writes ROUTE_ID already). */
#define ROUTE_ID    "{id}"
#define ROUTE_TOKEN "{token}"
/* A random-looking segment must be at least this long to become {token}. */
#define ROUTE_MIN_TOKEN 20
/* Longest ignore pattern accepted. */
#define ROUTE_MAX_PATTERN 255

/*
 * What a segment of n bytes must be to become "{id}": the rule the kernel
 * applies as it parses a request line, from the same code
 * (http_seg_is_id in include/http_parse.h): all decimal digits, a UUID
 * (8-4-4-4-12 hex), or a hex string of 16 or more characters with at least
 * one digit.
 */
bool route_is_id(const char *seg, size_t n);

/*
 * What a segment of n bytes must be to become {token}: at least
 * ROUTE_MIN_TOKEN bytes of [A-Za-z0-9_.-], with a letter and a digit, and
 * at least one change of character class per 4 bytes (see route.c).
 */
bool route_is_token(const char *seg, size_t n);

/*
 * Writes the heuristic's route of path to out: each segment that is an id
 * (route_is_id) becomes "{id}", else each token (route_is_token) becomes
 * "{token}"; slashes are kept as they are; a NULL or empty path gives "/".
 * out is always NUL-terminated when outlen > 0 and the result is cut to
 * outlen - 1 bytes. Returns the number of bytes written, not counting the
 * NUL.
 */
int route_heuristic(const char *path, char *out, size_t outlen);

/*
 * Whether tmpl is a usable route template: it starts with '/', has only
 * printable ASCII without blanks, '?' or '#', is shorter than the longest
 * exported route, and its braces only form whole-segment placeholders
 * "{name}". Returns 0, or -EINVAL with *why saying what is wrong.
 */
int route_check_template(const char *tmpl, const char **why);

/*
 * Whether path (as the kernel keys it) matches the template: as many
 * segments, each literal template segment equal to the path's, each
 * placeholder "{name}" matching any one non-empty segment, a "{id}" the
 * kernel wrote included. A "{id}" in the path never equals a literal.
 */
bool route_match(const char *tmpl, const char *path);

/*
 * Whether a pattern is a usable ignore glob: 1..ROUTE_MAX_PATTERN printable
 * bytes, no blanks. Returns 0, or -EINVAL with *why saying what is wrong.
 */
int route_check_pattern(const char *pattern, const char **why);

/* Glob match of the whole string: '*' matches any run of bytes ('/' included), all else itself. */
bool route_glob(const char *pattern, const char *s);

/* The templates (first match wins) and ignore patterns in force. */
struct route_rules {
	const char *const *templates;
	size_t nr_templates;
	const char *const *ignores;
	size_t nr_ignores;
};

/*
 * Writes the route of path to out (cut as route_heuristic cuts): the first
 * template that matches, else route_heuristic. Returns whether the route
 * matches an ignore pattern (the request is not exported). rules may be
 * NULL (heuristic only).
 */
bool route_resolve(const struct route_rules *rules, const char *path, char *out, size_t outlen);

#endif /* OA_ROUTE_H */
