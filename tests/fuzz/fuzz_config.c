/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer harness for the configuration file (src/config.c; built and run
 * by `make fuzz`). An input is a file's contents. It is parsed as it is read
 * (config_parse) and as --config names it (config_build, from a memfd), and
 * both are compared with the format of docs/configuration.md written out
 * plainly below, line by line:
 *  - the result is 0 exactly when no line is bad, else -EINVAL;
 *  - the routes and ignores kept are the valid ones in the file's order;
 *  - max-series-per-target and the bucket lists are what their one line says,
 *    in range (1..OA_MAX_MAP_ENTRIES; 1..31 finite bounds from 1 ns to 1e9 s,
 *    strictly increasing), and a second line with the same key is bad;
 *  - config_build adds the default cap and fails when both endpoints' bounds
 *    together are more than the kernel counts, and leaves nothing behind;
 *  - nothing leaks (LeakSanitizer checks every input).
 * The config's own messages go to /dev/null; this harness writes to fd 2.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "config.h"
#include "metrics/buckets.h"
#include "server/http_server.h"

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			dprintf(STDERR_FILENO, "fuzz_config: %s: ", #cond); \
			dprintf(STDERR_FILENO, __VA_ARGS__);                \
			dprintf(STDERR_FILENO, "\n");                       \
			abort();                                            \
		}                                                           \
	} while (0)

/* Not what is fuzzed here: cli.c links it for --listen, which config.c never calls. */
int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len)
{
	(void)listen;
	(void)addr;
	(void)len;
	abort();
}

/* What the file should give, from the plain reading below. */
struct expected {
	const char *routes[OA_MAX_CONFIG_ROUTES];
	size_t nr_routes;
	const char *ignores[OA_MAX_CONFIG_IGNORES];
	size_t nr_ignores;
	unsigned int max_series;
	double otel[OA_MAX_BOUNDS], plugin[OA_MAX_BOUNDS];
	unsigned int nr_otel, nr_plugin;
	bool seen_max, seen_otel, seen_plugin, seen_body;
	bool body_sizes;
	bool bad;
};

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	stderr = fopen("/dev/null", "w");
	memfd = memfd_create("fuzz_config", MFD_CLOEXEC);
	CHECK(stderr && memfd >= 0, "cannot set up: %s", strerror(errno));
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Digits, at most one '.', digits on one side at least, then an optional e[+-]digits. */
static bool plain_decimal(const char *s, size_t n)
{
	size_t i = 0, mant = 0, exp = 0;

	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		mant++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			mant++;
	if (!mant)
		return false;
	if (i == n)
		return true;
	if (s[i] != 'e' && s[i] != 'E')
		return false;
	if (++i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		exp++;
	return exp && i == n;
}

/* A bucket list: the number of bounds, or -1 when it is bad. */
static int plain_buckets(const char *v, double *out)
{
	int n = 0;

	for (;;) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t)(end - v) : strlen(v);
		char num[64];

		while (len && blank(*v))
			v++, len--;
		while (len && blank(v[len - 1]))
			len--;
		if (!len || len >= sizeof(num) || !plain_decimal(v, len) || n == OA_MAX_BOUNDS)
			return -1;
		memcpy(num, v, len);
		num[len] = '\0';
		out[n] = strtod(num, NULL);
		if (!(out[n] >= 1e-9 && out[n] <= 1e9) || (n && !(out[n - 1] < out[n])))
			return -1;
		n++;
		if (!end)
			return n;
		v = end + 1;
	}
}

/* max-series-per-target: digits only, 1..OA_MAX_MAP_ENTRIES; 0 when bad. */
static unsigned int plain_count(const char *v)
{
	unsigned long long n = 0;

	if (!*v)
		return 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		n = n * 10 + (unsigned)(*v - '0');
		if (n > OA_MAX_MAP_ENTRIES)
			return 0;
	}
	return (unsigned int)n;
}

static void plain_set_buckets(struct expected *e, bool *seen, double *out, unsigned int *nr,
			      const char *v)
{
	double b[OA_MAX_BOUNDS];
	int n;

	if (*seen) {
		e->bad = true;
		return;
	}
	*seen = true;
	n = plain_buckets(v, b);
	if (n < 0) {
		e->bad = true;
		return;
	}
	memcpy(out, b, (size_t)n * sizeof(*b));
	*nr = (unsigned int)n;
}

/* One line, without its end; line is changed (comments and blanks cut). */
static void plain_line(struct expected *e, char *line)
{
	char *key, *value, *p;
	const char *why;

	for (p = line; *p; p++)
		if (*p == '#' && (p == line || blank(p[-1])))
			*p = '\0';
	key = line + strspn(line, " \t");
	for (p = key + strlen(key); p > key && blank(p[-1]); p--)
		p[-1] = '\0';
	if (!*key)
		return;
	value = key + strcspn(key, " \t");
	if (*value)
		*value++ = '\0';
	value += strspn(value, " \t");
	if (!*value) {
		e->bad = true; /* a known key without a value, or an unknown key */
	} else if (!strcmp(key, "route")) {
		if (route_check_template(value, &why) || e->nr_routes == OA_MAX_CONFIG_ROUTES)
			e->bad = true;
		else
			e->routes[e->nr_routes++] = value;
	} else if (!strcmp(key, "ignore")) {
		if (route_check_pattern(value, &why) || e->nr_ignores == OA_MAX_CONFIG_IGNORES)
			e->bad = true;
		else
			e->ignores[e->nr_ignores++] = value;
	} else if (!strcmp(key, "max-series-per-target")) {
		unsigned int n = plain_count(value);

		e->bad |= e->seen_max || !n;
		if (!e->seen_max && n)
			e->max_series = n;
		e->seen_max = true;
	} else if (!strcmp(key, "buckets-otel")) {
		plain_set_buckets(e, &e->seen_otel, e->otel, &e->nr_otel, value);
	} else if (!strcmp(key, "buckets-plugin")) {
		plain_set_buckets(e, &e->seen_plugin, e->plugin, &e->nr_plugin, value);
	} else if (!strcmp(key, "body-sizes")) {
		bool t = !strcmp(value, "true"), f = !strcmp(value, "false");

		e->bad |= e->seen_body || (!t && !f);
		if (!e->seen_body && (t || f))
			e->body_sizes = t;
		e->seen_body = true;
	} else {
		e->bad = true;
	}
}

/* text is changed: lines are cut in place. */
static void plain_file(struct expected *e, char *text, size_t size)
{
	size_t start = 0, i;

	for (i = 0; i < size; i++) {
		size_t end = i, len;

		if (text[i] != '\n' && i + 1 < size)
			continue;
		if (text[i] != '\n')
			end = i + 1; /* the last line, without a newline */
		len = end - start;
		if (len && text[start + len - 1] == '\r')
			len--;
		if (memchr(text + start, '\0', len) || len > OA_MAX_CONFIG_LINE) {
			e->bad = true;
		} else {
			text[start + len] = '\0';
			plain_line(e, text + start);
		}
		start = i + 1;
	}
}

static void check_bounds(const double *b, unsigned int nr)
{
	unsigned int i;

	CHECK(nr <= OA_MAX_BOUNDS, "%u bounds", nr);
	for (i = 0; i < nr; i++) {
		CHECK(isfinite(b[i]) && b[i] >= BUCKETS_MIN_BOUND && b[i] <= BUCKETS_MAX_BOUND,
		      "bound %g out of range", b[i]);
		CHECK(!i || b[i - 1] < b[i], "bounds %g, %g not increasing", b[i - 1], b[i]);
	}
}

static void check_same(const struct oa_config *cfg, const struct expected *e)
{
	size_t i;

	CHECK(cfg->nr_routes == e->nr_routes, "%zu routes, want %zu", cfg->nr_routes, e->nr_routes);
	for (i = 0; i < e->nr_routes; i++)
		CHECK(!strcmp(cfg->routes[i], e->routes[i]), "route %zu '%s', want '%s'", i,
		      cfg->routes[i], e->routes[i]);
	CHECK(cfg->nr_ignores == e->nr_ignores, "%zu ignores, want %zu", cfg->nr_ignores,
	      e->nr_ignores);
	for (i = 0; i < e->nr_ignores; i++)
		CHECK(!strcmp(cfg->ignores[i], e->ignores[i]), "ignore %zu '%s', want '%s'", i,
		      cfg->ignores[i], e->ignores[i]);
	CHECK(cfg->body_sizes == e->body_sizes, "body-sizes %d, want %d", cfg->body_sizes,
	      e->body_sizes);
	check_bounds(cfg->buckets_otel, cfg->nr_buckets_otel);
	check_bounds(cfg->buckets_plugin, cfg->nr_buckets_plugin);
	CHECK(cfg->nr_buckets_otel == e->nr_otel &&
		      !memcmp(cfg->buckets_otel, e->otel, e->nr_otel * sizeof(double)),
	      "buckets-otel: %u bounds, want %u", cfg->nr_buckets_otel, e->nr_otel);
	CHECK(cfg->nr_buckets_plugin == e->nr_plugin &&
		      !memcmp(cfg->buckets_plugin, e->plugin, e->nr_plugin * sizeof(double)),
	      "buckets-plugin: %u bounds, want %u", cfg->nr_buckets_plugin, e->nr_plugin);
}

/* Distinct bounds of both endpoints, configured or built in. */
static unsigned int union_size(const struct expected *e)
{
	const double *a = e->nr_otel ? e->otel : buckets_otel.bounds;
	const double *b = e->nr_plugin ? e->plugin : buckets_plugin.bounds;
	unsigned int na = e->nr_otel ? e->nr_otel : buckets_otel.nr;
	unsigned int nb = e->nr_plugin ? e->nr_plugin : buckets_plugin.nr;
	unsigned int n = na, i, j;

	for (j = 0; j < nb; j++) {
		for (i = 0; i < na && a[i] != b[j]; i++)
			;
		n += i == na;
	}
	return n;
}

static void fuzz_parse(const uint8_t *data, size_t size, const struct expected *e)
{
	struct oa_config cfg = { 0 };
	char *buf = malloc(size);
	FILE *in;
	int ret;

	CHECK(buf, "out of memory");
	memcpy(buf, data, size);
	in = fmemopen(buf, size, "r");
	CHECK(in, "fmemopen: %s", strerror(errno));
	ret = config_parse(in, "fuzz.conf", &cfg);
	fclose(in);
	free(buf);
	CHECK(ret == (e->bad ? -EINVAL : 0), "config_parse returned %d, want %d", ret,
	      e->bad ? -EINVAL : 0);
	check_same(&cfg, e);
	CHECK(cfg.max_series_per_target == e->max_series, "max-series-per-target %u, want %u",
	      cfg.max_series_per_target, e->max_series);
	config_free(&cfg);
}

static void fuzz_build(const uint8_t *data, size_t size, const struct expected *e)
{
	static const struct oa_config zero;
	struct export_opts exp = { .config = memfd_path };
	struct oa_config cfg;
	bool fits = union_size(e) <= OA_MAX_BOUNDS;
	int ret;

	CHECK(!ftruncate(memfd, 0) && pwrite(memfd, data, size, 0) == (ssize_t)size, "memfd: %s",
	      strerror(errno));
	ret = config_build(&exp, &cfg);
	if (e->bad || !fits) {
		CHECK(ret == -EINVAL, "config_build returned %d, want -EINVAL", ret);
		CHECK(!memcmp(&cfg, &zero, sizeof(cfg)), "a failed config_build left values");
		return;
	}
	CHECK(!ret, "config_build returned %d, want 0", ret);
	check_same(&cfg, e);
	CHECK(cfg.max_series_per_target ==
		      (e->max_series ? e->max_series : OA_DEFAULT_MAX_SERIES_PER_TARGET),
	      "max-series-per-target %u, want %u", cfg.max_series_per_target, e->max_series);
	CHECK(cfg.rules.nr_templates == cfg.nr_routes && cfg.rules.nr_ignores == cfg.nr_ignores,
	      "the rules do not cover the routes and ignores");
	config_free(&cfg);
	CHECK(!memcmp(&cfg, &zero, sizeof(cfg)), "config_free left values");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct expected e; /* large: not on the stack */
	char *text;

	if (!size)
		return 0;	 /* fmemopen takes no empty buffer */
	text = malloc(size + 1); /* the last line's NUL */
	CHECK(text, "out of memory");
	memcpy(text, data, size);
	memset(&e, 0, sizeof(e));
	plain_file(&e, text, size);
	fuzz_parse(data, size, &e);
	fuzz_build(data, size, &e);
	free(text);
	return 0;
}
