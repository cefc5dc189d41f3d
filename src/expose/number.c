// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns numbers as exposition text (number.h). Sums are written once per
 * histogram of a scrape, so the usual ones are written digit by digit
 * instead of by snprintf and strtod; le values once per scrape, so they
 * take the plain way.
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose/number.h"
#include "expose/text_out.h"

/* Below 1e15 ns, a duration sum in seconds has at most 15 significant digits (fmt_seconds). */
#define SECONDS_EXACT_NS 1000000000000000ULL
/* Below 1e5 ns (1e-4 s), %g writes a sum in exponent form. */
#define SECONDS_FIXED_NS 100000ULL

/* Shortest of %.15g..%.17g that reads back as the same double. */
static void fmt_float(char *buf, size_t n, double v)
{
	int p;

	for (p = 15; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* 1 to 99999 ns as %.15g writes ns / 1e9: d.ddde-XX, the digits of ns without trailing zeros. */
static void fmt_small_seconds(char *buf, __u64 ns)
{
	char d[U64_LEN];
	size_t nd = (size_t)(u64_text(d, ns) - d);
	int x = 10 - (int)nd; /* ns / 1e9 is d.ddd times ten to the -x, 5 <= x <= 9 */
	char *p = buf;

	while (d[nd - 1] == '0')
		nd--;
	*p++ = d[0];
	if (nd > 1) {
		*p++ = '.';
		memcpy(p, d + 1, nd - 1);
		p += nd - 1;
	}
	memcpy(p, "e-0", 3);
	p[3] = (char)('0' + x);
	p[4] = '\0';
}

/* 0, or 1e5 to 1e15 ns, as %.15g writes ns / 1e9: fixed point, no trailing zeros. */
static void fmt_fixed_seconds(char *buf, __u64 ns)
{
	char d[U64_LEN];
	char *p = u64_text(buf, ns / 1000000000ULL);
	size_t nd;

	if (ns % 1000000000ULL) {
		/* the nine fractional digits: a leading 1 keeps their zeros, then is skipped */
		u64_text(d, ns % 1000000000ULL + 1000000000ULL);
		for (nd = 10; d[nd - 1] == '0'; nd--)
			;
		*p++ = '.';
		memcpy(p, d + 1, nd - 1);
		p += nd - 1;
	}
	*p = '\0';
}

/*
 * Exactly as fmt_float writes ns / 1e9, without snprintf and strtod: a
 * fifth of the rendering with them. Below 1e15 ns, ns / 1e9 has at most 15
 * significant digits: %.15g then gives those digits back, they read back as
 * the same double, and fmt_float stops there. %.15g writes them in fixed
 * point (trailing zeros dropped) from 1e-4 on, and as d.ddde-XX below.
 */
void fmt_seconds(char *buf, size_t n, __u64 ns)
{
	if (n < NUM_LEN || ns >= SECONDS_EXACT_NS)
		fmt_float(buf, n, (double)ns / 1e9);
	else if (ns && ns < SECONDS_FIXED_NS)
		fmt_small_seconds(buf, ns);
	else
		fmt_fixed_seconds(buf, ns);
}

/* A finite double's shortest round-trip digits, which both le forms start from. */
struct shortest {
	char e[NUM_LEN];      /* in exponent form, as %.*e writes it */
	char digits[NUM_LEN]; /* its digits alone, no sign or point */
	int nd;		      /* how many */
	int exp;	      /* v is d.ddd times ten to the exp */
};

static void shortest(struct shortest *d, double v)
{
	const char *c;
	int p;

	for (p = 0; p < 17; p++) {
		snprintf(d->e, sizeof(d->e), "%.*e", p, v);
		if (strtod(d->e, NULL) == v)
			break;
	}
	d->nd = 0;
	for (c = d->e; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			d->digits[d->nd++] = *c;
	d->digits[d->nd] = '\0';
	d->exp = atoi(c + 1);
}

/* JavaScript's Number.prototype.toString: shortest digits, plain notation while -7 < exponent < 21. */
static void fmt_js(char *buf, size_t n, double v)
{
	struct shortest d;
	char plain[NUM_LEN * 2];
	int dp, i, o = 0;

	shortest(&d, v);
	dp = d.exp + 1; /* digits before the decimal point */
	if (dp < -5 || dp > 21) {
		snprintf(buf, n, "%s%c%s%se%+d", v < 0 ? "-" : "", d.digits[0], d.nd > 1 ? "." : "",
			 d.digits + 1, dp - 1);
		return;
	}
	if (v < 0)
		plain[o++] = '-';
	if (dp <= 0) {
		plain[o++] = '0';
		plain[o++] = '.';
		for (i = dp; i < 0; i++)
			plain[o++] = '0';
	}
	for (i = 0; i < d.nd || i < dp; i++) {
		if (i == dp && dp > 0)
			plain[o++] = '.';
		plain[o++] = i < d.nd ? d.digits[i] : '0';
	}
	plain[o] = '\0';
	snprintf(buf, n, "%s", plain);
}

/*
 * OpenMetrics' canonical form: Go's %g of the shortest round-trip digits
 * (exponent form below 1e-4 and from 1e+06), with ".0" when it would read
 * as an integer.
 */
static void fmt_om(char *buf, size_t n, double v)
{
	struct shortest d;

	shortest(&d, v);
	if (d.exp < -4 || d.exp >= 6)
		snprintf(buf, n, "%s", d.e);
	else
		snprintf(buf, n, "%.*f", d.nd - 1 - d.exp > 0 ? d.nd - 1 - d.exp : 0, v);
	if (!strpbrk(buf, ".e"))
		strncat(buf, ".0", n - strlen(buf) - 1);
}

void fmt_le(char *buf, size_t n, double v, enum oa_format fmt)
{
	if (v > DBL_MAX)
		snprintf(buf, n, "+Inf");
	else if (fmt == OA_FORMAT_OPENMETRICS)
		fmt_om(buf, n, v);
	else
		fmt_js(buf, n, v);
}
