// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the configuration file (--config) and the merge with the options.
 * One directive per line, "KEY VALUE"; '#' starts a comment at the start of
 * a line or after a blank; blank lines are skipped. Keys: route, ignore,
 * max-series-per-target, buckets-otel, buckets-plugin, body-sizes
 * (docs/configuration.md).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "metrics/buckets.h"
#include "config.h"

#define KEYS "route, ignore, max-series-per-target, buckets-otel, buckets-plugin, body-sizes"

/* Where a key that may be given once was given, to report a repeat. */
struct seen_lines {
	unsigned int max_series_per_target;
	unsigned int buckets_otel;
	unsigned int buckets_plugin;
	unsigned int body_sizes;
};

__attribute__((format(printf, 3, 4))) static void bad_line(const char *name, unsigned int lineno,
							   const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "otel-agent: %s:%u: ", name, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int add_str(char ***v, size_t *n, const char *s)
{
	char **grown = realloc(*v, (*n + 1) * sizeof(**v));
	char *copy = strdup(s);

	if (grown)
		*v = grown;
	if (!grown || !copy) {
		free(copy);
		return -ENOMEM;
	}
	(*v)[(*n)++] = copy;
	return 0;
}

/* Where a line is reported and what was seen before it. */
struct line_ctx {
	struct oa_config *cfg;
	const char *name;
	unsigned int lineno;
	struct seen_lines *seen;
};

static int once(const struct line_ctx *l, unsigned int *seen, const char *key)
{
	if (*seen) {
		bad_line(l->name, l->lineno, "%s is given twice (first on line %u)", key, *seen);
		return -EINVAL;
	}
	*seen = l->lineno;
	return 0;
}

/* A route template or an ignore pattern: checked, and kept in the order given. */
static int add_rule(const struct line_ctx *l, bool route, const char *value)
{
	const char *key = route ? "route" : "ignore";
	char ***v = route ? &l->cfg->routes : &l->cfg->ignores;
	size_t *n = route ? &l->cfg->nr_routes : &l->cfg->nr_ignores;
	size_t max = route ? OA_MAX_CONFIG_ROUTES : OA_MAX_CONFIG_IGNORES;
	const char *why;

	if ((route ? route_check_template : route_check_pattern)(value, &why)) {
		bad_line(l->name, l->lineno, "%s '%s' %s", key, value, why);
		return -EINVAL;
	}
	if (*n >= max) {
		bad_line(l->name, l->lineno, "more than %zu %s", max,
			 route ? "route templates" : "ignore patterns");
		return -EINVAL;
	}
	return add_str(v, n, value);
}

static int set_route(const struct line_ctx *l, const char *value)
{
	return add_rule(l, true, value);
}

static int set_ignore(const struct line_ctx *l, const char *value)
{
	return add_rule(l, false, value);
}

static int set_max_series(const struct line_ctx *l, const char *value)
{
	int err = once(l, &l->seen->max_series_per_target, "max-series-per-target");
	unsigned long v;

	if (err)
		return err;
	if (parse_decimal(value, 1, OA_MAX_MAP_ENTRIES, &v)) {
		bad_line(l->name, l->lineno,
			 "max-series-per-target takes a number from 1 to %u, got '%s'",
			 OA_MAX_MAP_ENTRIES, value);
		return -EINVAL;
	}
	l->cfg->max_series_per_target = (unsigned int)v;
	return 0;
}

static int set_buckets(const struct line_ctx *l, const char *key, const char *value,
		       unsigned int *seen, double *out, unsigned int *nr)
{
	const char *why;
	int n = once(l, seen, key);

	if (n)
		return n;
	n = buckets_parse(value, out, OA_MAX_BOUNDS, &why);
	if (n < 0) {
		bad_line(l->name, l->lineno, "%s '%s': %s", key, value, why);
		return -EINVAL;
	}
	*nr = (unsigned int)n;
	return 0;
}

static int set_buckets_otel(const struct line_ctx *l, const char *value)
{
	return set_buckets(l, "buckets-otel", value, &l->seen->buckets_otel, l->cfg->buckets_otel,
			   &l->cfg->nr_buckets_otel);
}

static int set_buckets_plugin(const struct line_ctx *l, const char *value)
{
	return set_buckets(l, "buckets-plugin", value, &l->seen->buckets_plugin,
			   l->cfg->buckets_plugin, &l->cfg->nr_buckets_plugin);
}

static int set_body_sizes(const struct line_ctx *l, const char *value)
{
	int err = once(l, &l->seen->body_sizes, "body-sizes");

	if (err)
		return err;
	if (strcmp(value, "true") && strcmp(value, "false")) {
		bad_line(l->name, l->lineno, "body-sizes takes true or false, got '%s'", value);
		return -EINVAL;
	}
	l->cfg->body_sizes = !strcmp(value, "true");
	return 0;
}

static const struct {
	const char *key;
	int (*set)(const struct line_ctx *l, const char *value);
} keys[] = {
	{ "route", set_route },
	{ "ignore", set_ignore },
	{ "max-series-per-target", set_max_series },
	{ "buckets-otel", set_buckets_otel },
	{ "buckets-plugin", set_buckets_plugin },
	{ "body-sizes", set_body_sizes },
};

/* Cuts a comment and the blanks around what is left; returns its start. */
static char *strip_line(char *line)
{
	char *p;

	for (p = line; *p; p++) {
		if (*p == '#' && (p == line || isblank((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	while (isblank((unsigned char)*line))
		line++;
	for (p = line + strlen(line); p > line && isblank((unsigned char)p[-1]); p--)
		p[-1] = '\0';
	return line;
}

/* One line without its end: 0, -EINVAL after reporting it, or -ENOMEM. */
static int parse_line(const struct line_ctx *l, char *line)
{
	char *key = strip_line(line), *value;

	if (!*key)
		return 0;
	value = key + strcspn(key, " \t");
	if (*value)
		*value++ = '\0';
	while (isblank((unsigned char)*value))
		value++;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key))
			continue;
		if (!*value) {
			bad_line(l->name, l->lineno, "%s needs a value", key);
			return -EINVAL;
		}
		return keys[i].set(l, value);
	}
	bad_line(l->name, l->lineno, "unknown key '%s' (known: " KEYS ")", key);
	return -EINVAL;
}

int config_parse(FILE *in, const char *name, struct oa_config *cfg)
{
	struct seen_lines seen = { 0 };
	struct line_ctx l = { .cfg = cfg, .name = name, .seen = &seen };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret = 0;

	while ((len = getline(&line, &cap, in)) >= 0) {
		int err = 0;

		l.lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			bad_line(name, l.lineno, "has a NUL byte: not a text file?");
			err = -EINVAL;
		} else if (len > OA_MAX_CONFIG_LINE) {
			bad_line(name, l.lineno, "longer than %d bytes", OA_MAX_CONFIG_LINE);
			err = -EINVAL;
		} else {
			err = parse_line(&l, line);
		}
		if (err == -ENOMEM) {
			fprintf(stderr, "otel-agent: %s: out of memory\n", name);
			ret = err;
			break;
		}
		if (err)
			ret = err;
	}
	if (ferror(in)) {
		ret = -errno;
		fprintf(stderr, "otel-agent: cannot read %s: %s\n", name, strerror(-ret));
	}
	free(line);
	return ret;
}

static int cannot_read(const char *path, int err)
{
	fprintf(stderr, "otel-agent: cannot read the config file %s: %s\n", path, strerror(-err));
	return err;
}

/* How a file that is not a regular one is named in the error. */
static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	}
	return "a special file";
}

/*
 * The file's text, at most OA_MAX_CONFIG_BYTES of it, in *text (freed by
 * the caller). Opened without blocking, since a FIFO with no writer would
 * block the open for good, and refused unless it is a regular file:
 * /dev/zero or a FIFO never ends. The cap holds while reading too, for a
 * file that grows (or a /proc file, whose size says 0).
 */
static int read_file(const char *path, char **text, size_t *len)
{
	struct stat st;
	size_t got = 0;
	ssize_t n = 0;
	char *buf = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return cannot_read(path, -errno);
	if (fstat(fd, &st)) {
		err = cannot_read(path, -errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		fprintf(stderr, "otel-agent: the config file %s is %s, not a regular file\n", path,
			file_kind(st.st_mode));
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    !(buf = malloc(OA_MAX_CONFIG_BYTES + 1))) {
		err = cannot_read(path, -errno);
		goto out;
	}
	if (st.st_size <= OA_MAX_CONFIG_BYTES) {
		while (got <= OA_MAX_CONFIG_BYTES &&
		       (n = read(fd, buf + got, OA_MAX_CONFIG_BYTES + 1 - got)) > 0)
			got += (size_t)n;
	}
	if (n < 0) {
		err = cannot_read(path, -errno);
	} else if (st.st_size > OA_MAX_CONFIG_BYTES || got > OA_MAX_CONFIG_BYTES) {
		err = -EFBIG;
		fprintf(stderr,
			"otel-agent: the config file %s is larger than %d MiB, the most "
			"the agent reads\n",
			path, OA_MAX_CONFIG_BYTES >> 20);
	}
out:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = got;
	return 0;
}

static int load_file(const char *path, struct oa_config *cfg)
{
	size_t len = 0;
	char *text = NULL;
	FILE *in;
	int err;

	err = read_file(path, &text, &len);
	if (err || !len) {
		free(text);
		return err;
	}
	in = fmemopen(text, len, "r");
	if (!in) {
		err = cannot_read(path, -errno);
		free(text);
		return err;
	}
	err = config_parse(in, path, cfg);
	fclose(in);
	free(text);
	return err;
}

static int check_bounds_fit(const struct oa_config *cfg)
{
	struct bucket_set otel = buckets_otel, plugin = buckets_plugin;
	double all[OA_MAX_BOUNDS + 1];
	int n;

	if (cfg->nr_buckets_otel)
		buckets_set(&otel, cfg->buckets_otel, cfg->nr_buckets_otel);
	if (cfg->nr_buckets_plugin)
		buckets_set(&plugin, cfg->buckets_plugin, cfg->nr_buckets_plugin);
	n = buckets_union(&otel, &plugin, all, OA_MAX_BOUNDS);
	if (n >= 0)
		return 0;
	fprintf(stderr,
		"otel-agent: the /metrics/otel bounds (%u) and the /metrics bounds (%u) together are "
		"more than the %d distinct bounds the kernel counts; use fewer, or the same ones "
		"in both\n",
		otel.nr, plugin.nr, OA_MAX_BOUNDS);
	return -EINVAL;
}

int config_build(const struct export_opts *exp, struct oa_config *cfg)
{
	size_t i;
	int err = 0;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < exp->nr_routes && !err; i++)
		err = add_str(&cfg->routes, &cfg->nr_routes, exp->routes[i]);
	for (i = 0; i < exp->nr_ignores && !err; i++)
		err = add_str(&cfg->ignores, &cfg->nr_ignores, exp->ignores[i]);
	if (err)
		fprintf(stderr, "otel-agent: out of memory\n");
	if (!err && exp->config)
		err = load_file(exp->config, cfg);
	if (err)
		goto fail;
	if (cfg->nr_routes > OA_MAX_CONFIG_ROUTES || cfg->nr_ignores > OA_MAX_CONFIG_IGNORES) {
		fprintf(stderr, "otel-agent: at most %d route templates and %d ignore patterns\n",
			OA_MAX_CONFIG_ROUTES, OA_MAX_CONFIG_IGNORES);
		err = -EINVAL;
		goto fail;
	}
	if (exp->max_series_per_target)
		cfg->max_series_per_target = exp->max_series_per_target;
	if (exp->body_sizes)
		cfg->body_sizes = true;
	if (!cfg->max_series_per_target)
		cfg->max_series_per_target = OA_DEFAULT_MAX_SERIES_PER_TARGET;
	if (exp->nr_buckets_otel) {
		memcpy(cfg->buckets_otel, exp->buckets_otel, sizeof(cfg->buckets_otel));
		cfg->nr_buckets_otel = exp->nr_buckets_otel;
	}
	if (exp->nr_buckets_plugin) {
		memcpy(cfg->buckets_plugin, exp->buckets_plugin, sizeof(cfg->buckets_plugin));
		cfg->nr_buckets_plugin = exp->nr_buckets_plugin;
	}
	err = check_bounds_fit(cfg);
	if (err)
		goto fail;
	cfg->rules.templates = (const char *const *)cfg->routes;
	cfg->rules.nr_templates = cfg->nr_routes;
	cfg->rules.ignores = (const char *const *)cfg->ignores;
	cfg->rules.nr_ignores = cfg->nr_ignores;
	return 0;
fail:
	config_free(cfg);
	return err;
}

int config_apply_buckets(const struct oa_config *cfg)
{
	int err = 0;

	if (cfg->nr_buckets_otel)
		err = buckets_set(&buckets_otel, cfg->buckets_otel, cfg->nr_buckets_otel);
	if (!err && cfg->nr_buckets_plugin)
		err = buckets_set(&buckets_plugin, cfg->buckets_plugin, cfg->nr_buckets_plugin);
	return err;
}

void config_free(struct oa_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nr_routes; i++)
		free(cfg->routes[i]);
	for (i = 0; i < cfg->nr_ignores; i++)
		free(cfg->ignores[i]);
	free(cfg->routes);
	free(cfg->ignores);
	memset(cfg, 0, sizeof(*cfg));
}
