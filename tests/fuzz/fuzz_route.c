/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer harness for src/metrics/route.c and route_memo.c (built and
 * run by `make fuzz`). An input is lines: the first is a --route template,
 * the second an --ignore pattern, the rest paths; every line is also tried
 * in the other roles. Checked against rules written out plainly here:
 *  - route_check_template and route_check_pattern accept exactly what their
 *    comments (and docs/configuration.md) say;
 *  - route_match and route_glob agree with a segment-by-segment match and a
 *    dynamic-programming glob;
 *  - a valid template matches itself and any expansion of its placeholders,
 *    and route_resolve then names the route by it;
 *  - route_heuristic's result is NUL-terminated within its bound, the same
 *    bytes whatever the bound cuts, keeps the path's slashes, and is
 *    idempotent when not cut;
 *  - route_memo_resolve gives what route_resolve gives.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/route.h"
#include "metrics/route_memo.h"
#include "metrics/series.h"

#define MAX_LINES 8
/* Glob inputs whose pattern times subject is larger are not compared (time). */
#define MAX_GLOB_WORK (1 << 15)

#define CHECK(cond, ...)                                            \
	do {                                                        \
		if (!(cond)) {                                      \
			fprintf(stderr, "fuzz_route: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);               \
			fputc('\n', stderr);                        \
			abort();                                    \
		}                                                   \
	} while (0)

static bool plain_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool plain_placeholder(const char *seg, size_t n)
{
	return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

/* The segments of s between slashes: n + 1 of them for n slashes. */
static size_t split(const char *s, const char **seg, size_t *len, size_t max)
{
	size_t n = 0;
	const char *start = s;

	for (;; s++) {
		if (*s == '/' || !*s) {
			if (n < max) {
				seg[n] = start;
				len[n] = (size_t)(s - start);
			}
			n++;
			start = s + 1;
		}
		if (!*s)
			return n;
	}
}

/* route_check_template's rule as its comment states it. */
static bool plain_template_ok(const char *t)
{
	const char *seg[OA_MAX_ROUTE + 1];
	size_t len[OA_MAX_ROUTE + 1], n, i, k, braces;

	if (t[0] != '/' || strlen(t) >= OA_MAX_ROUTE || !plain_printable(t) || strpbrk(t, "?#"))
		return false;
	n = split(t, seg, len, OA_MAX_ROUTE + 1);
	for (i = 0; i < n; i++) {
		for (braces = 0, k = 0; k < len[i]; k++)
			braces += seg[i][k] == '{' || seg[i][k] == '}';
		if (braces && !(braces == 2 && plain_placeholder(seg[i], len[i])))
			return false;
	}
	return true;
}

static bool plain_pattern_ok(const char *p)
{
	size_t n = strlen(p);

	return n >= 1 && n <= ROUTE_MAX_PATTERN && plain_printable(p);
}

/* Segment by segment: as many, each placeholder against a non-empty one, the rest equal. */
static bool plain_match(const char *t, const char *p)
{
	size_t tn = strlen(t) + 1, pn = strlen(p) + 1, i;
	const char **ts = malloc(tn * sizeof(*ts)), **ps = malloc(pn * sizeof(*ps));
	size_t *tl = malloc(tn * sizeof(*tl)), *pl = malloc(pn * sizeof(*pl));
	bool ok;

	CHECK(ts && ps && tl && pl, "out of memory");
	tn = split(t, ts, tl, tn);
	pn = split(p, ps, pl, pn);
	ok = tn == pn;
	for (i = 0; ok && i < tn; i++) {
		if (plain_placeholder(ts[i], tl[i]))
			ok = pl[i] > 0;
		else
			ok = tl[i] == pl[i] && !memcmp(ts[i], ps[i], tl[i]);
	}
	free(ts);
	free(ps);
	free(tl);
	free(pl);
	return ok;
}

/* Whole-string glob by dynamic programming over prefixes; -1 when too large to try. */
static int plain_glob(const char *p, const char *s)
{
	size_t pn = strlen(p), sn = strlen(s), i, j;
	bool *row, *next;
	int r;

	if ((pn + 1) * (sn + 1) > MAX_GLOB_WORK)
		return -1;
	row = calloc(sn + 1, sizeof(*row));
	next = calloc(sn + 1, sizeof(*next));
	CHECK(row && next, "out of memory");
	row[0] = true; /* row[j]: p[0..i) matches s[0..j) */
	for (i = 0; i < pn; i++) {
		for (j = 0; j <= sn; j++) {
			if (p[i] == '*')
				next[j] = row[j] || (j && next[j - 1]);
			else
				next[j] = j && row[j - 1] && p[i] == s[j - 1];
		}
		memcpy(row, next, (sn + 1) * sizeof(*row));
	}
	r = row[sn];
	free(row);
	free(next);
	return r;
}

static size_t count_slashes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

static void check_heuristic(const char *path)
{
	/* A segment of n >= 1 bytes becomes at most max(n, 7) bytes ("{token}" only for n >= 20). */
	size_t cap = 4 * strlen(path) + 8, flen, bounds[6], i;
	char *full = malloc(cap), *again = malloc(cap), *cut = malloc(cap);
	int n;

	CHECK(full && again && cut, "out of memory");
	n = route_heuristic(path, full, cap);
	flen = strlen(full);
	CHECK(n >= 0 && (size_t)n == flen && flen < cap - 1, "returned %d for \"%s\"", n, full);
	CHECK(flen > 0, "empty route for \"%s\"", path);
	CHECK(count_slashes(full) == (*path ? count_slashes(path) : 1),
	      "\"%s\" -> \"%s\" changed the slashes", path, full);
	n = route_heuristic(full, again, cap);
	CHECK(!strcmp(full, again), "not idempotent: \"%s\" -> \"%s\" -> \"%s\"", path, full,
	      again);

	bounds[0] = 1;
	bounds[1] = 2;
	bounds[2] = flen / 2 + 1;
	bounds[3] = flen;
	bounds[4] = flen + 1;
	bounds[5] = OA_MAX_ROUTE;
	for (i = 0; i < 6; i++) {
		size_t b = bounds[i] < cap ? bounds[i] : cap, want = flen < b - 1 ? flen : b - 1;

		memset(cut, 0xAA, cap);
		n = route_heuristic(path, cut, b);
		CHECK(n >= 0 && (size_t)n == want && !cut[want] && !memcmp(cut, full, want),
		      "bound %zu: \"%.*s\" (%d) is not \"%s\" cut", b, (int)want, cut, n, full);
		CHECK(b == cap || (unsigned char)cut[b] == 0xAA, "bound %zu: wrote past it", b);
	}
	free(full);
	free(again);
	free(cut);
}

/* t with each placeholder replaced by a non-empty segment taken from fill. */
static char *expand(const char *t, const char *fill)
{
	size_t cap = strlen(t) * (strlen(fill) + 2) + 2, o = 0, fn = strcspn(fill, "/");
	char *out = malloc(cap);
	const char *p = t;

	CHECK(out, "out of memory");
	for (;;) {
		size_t n = strcspn(p, "/");

		if (plain_placeholder(p, n)) {
			memcpy(out + o, fn ? fill : "x", fn ? fn : 1);
			o += fn ? fn : 1;
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		if (!*p)
			break;
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

static void check_lines(char **line, size_t nr)
{
	const char *templates[MAX_LINES], *ignores[1];
	struct route_rules rules = { .templates = templates, .ignores = ignores };
	struct route_memo *memo;
	char out[OA_MAX_ROUTE];
	const char *why;
	size_t i, j;

	for (i = 0; i < nr; i++) {
		bool t_ok = !route_check_template(line[i], &why);
		bool p_ok = !route_check_pattern(line[i], &why);

		CHECK(t_ok == plain_template_ok(line[i]), "template \"%s\": check says %d", line[i],
		      t_ok);
		CHECK(p_ok == plain_pattern_ok(line[i]), "pattern \"%s\": check says %d", line[i],
		      p_ok);
		check_heuristic(line[i]);
		for (j = 0; j < nr; j++) {
			int g = plain_glob(line[i], line[j]);

			CHECK(route_match(line[i], line[j]) == plain_match(line[i], line[j]),
			      "route_match(\"%s\", \"%s\")", line[i], line[j]);
			CHECK(g < 0 || route_glob(line[i], line[j]) == g,
			      "route_glob(\"%s\", \"%s\")", line[i], line[j]);
		}
		if (t_ok) {
			char *e = expand(line[i], nr > 2 ? line[nr - 1] : "");

			CHECK(route_match(line[i], line[i]), "\"%s\" does not match itself",
			      line[i]);
			CHECK(route_match(line[i], e), "\"%s\" does not match \"%s\"", line[i], e);
			rules.nr_templates = 1;
			templates[0] = line[i];
			rules.nr_ignores = 0;
			CHECK(!route_resolve(&rules, e, out, sizeof(out)) && !strcmp(out, line[i]),
			      "\"%s\" resolves to \"%s\", not its template \"%s\"", e, out,
			      line[i]);
			free(e);
		}
	}

	/* The first line's template (if valid) and every later valid one, the second's pattern. */
	rules.nr_templates = 0;
	for (i = 0; i < nr; i++)
		if (i != 1 && !route_check_template(line[i], &why))
			templates[rules.nr_templates++] = line[i];
	rules.nr_ignores = nr > 1 && !route_check_pattern(line[1], &why);
	ignores[0] = nr > 1 ? line[1] : NULL;
	memo = route_memo_new();
	CHECK(memo, "out of memory");
	for (unsigned long scrape = 1; scrape <= 2; scrape++) {
		for (i = 0; i < nr; i++) {
			const char *route, *want = NULL;
			bool ignored, ig;
			int g;

			ig = route_resolve(&rules, line[i], out, sizeof(out));
			CHECK(memchr(out, 0, sizeof(out)), "route of \"%s\" has no NUL", line[i]);
			for (j = 0; j < rules.nr_templates && !want; j++)
				if (plain_match(templates[j], line[i]))
					want = templates[j];
			if (want) {
				CHECK(!strcmp(out, want), "\"%s\" resolves to \"%s\", not \"%s\"",
				      line[i], out, want);
			} else {
				char h[OA_MAX_ROUTE];

				route_heuristic(line[i], h, sizeof(h));
				CHECK(!strcmp(out, h), "\"%s\" resolves to \"%s\", not \"%s\"",
				      line[i], out, h);
			}
			g = rules.nr_ignores ? plain_glob(ignores[0], out) : 0;
			CHECK(g < 0 || ig == g, "\"%s\" ignored %d by \"%s\"", out, ig,
			      rules.nr_ignores ? ignores[0] : "");
			CHECK(!route_memo_resolve(memo, &rules, line[i], scrape, &route, &ignored),
			      "memo: out of memory");
			CHECK(!strcmp(route, out) && ignored == ig,
			      "memo: \"%s\" %d, not \"%s\" %d", route, ignored, out, ig);
		}
		route_memo_sweep(memo, scrape);
	}
	route_memo_free(memo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* NUL-terminated lines, each its own allocation so a read past one is ASan's to see. */
	char *line[MAX_LINES];
	size_t nr = 0, start = 0, i;

	for (i = 0; i <= size && nr < MAX_LINES; i++) {
		if (i < size && data[i] != '\n')
			continue;
		line[nr] = malloc(i - start + 1);
		CHECK(line[nr], "out of memory");
		memcpy(line[nr], data + start, i - start);
		line[nr][i - start] = '\0';
		nr++;
		start = i + 1;
	}
	check_lines(line, nr);
	for (i = 0; i < nr; i++)
		free(line[i]);
	return 0;
}
