// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the configuration file (--config) and the merge with the options.
 * One directive per line, "KEY VALUE"; '#' starts a comment at the start of
 * a line or after a blank; blank lines are skipped. Keys: route, ignore,
 * max-series-per-target, buckets-otel, buckets-plugin (docs/configuration.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/buckets.h"
#include "config.h"

#define KEYS "route, ignore, max-series-per-target, buckets-otel, buckets-plugin"

/* Where a key that may be given once was given, to report a repeat. */
struct seen_lines {
	unsigned int max_series_per_target;
	unsigned int buckets_otel;
	unsigned int buckets_plugin;
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

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* 1 .. OA_MAX_MAP_ENTRIES, decimal. */
static int parse_count(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > OA_MAX_MAP_ENTRIES)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

static int once(unsigned int *seen, const char *name, unsigned int lineno, const char *key)
{
	if (*seen) {
		bad_line(name, lineno, "%s is given twice (first on line %u)", key, *seen);
		return -1;
	}
	*seen = lineno;
	return 0;
}

static int set_buckets(const char *name, unsigned int lineno, const char *key, const char *value,
		       double *out, unsigned int *nr)
{
	const char *why;
	int n = buckets_parse(value, out, OA_MAX_BOUNDS, &why);

	if (n < 0) {
		bad_line(name, lineno, "%s '%s': %s", key, value, why);
		return -1;
	}
	*nr = (unsigned int)n;
	return 0;
}

/* One line without its end; returns -1 after reporting it, -ENOMEM on allocation failure. */
static int parse_line(struct oa_config *cfg, char *line, const char *name, unsigned int lineno,
		      struct seen_lines *seen)
{
	char *key, *value, *p;
	const char *why;
	size_t klen;

	for (p = line; *p; p++) {
		if (*p == '#' && (p == line || is_blank(p[-1]))) {
			*p = '\0';
			break;
		}
	}
	while (is_blank(*line))
		line++;
	for (p = line + strlen(line); p > line && is_blank(p[-1]); p--)
		p[-1] = '\0';
	if (!*line)
		return 0;
	key = line;
	klen = strcspn(key, " \t");
	value = key + klen;
	if (*value)
		*value++ = '\0';
	while (is_blank(*value))
		value++;
	if (strcmp(key, "route") && strcmp(key, "ignore") && strcmp(key, "max-series-per-target") &&
	    strcmp(key, "buckets-otel") && strcmp(key, "buckets-plugin")) {
		bad_line(name, lineno, "unknown key '%s' (known: " KEYS ")", key);
		return -1;
	}
	if (!*value) {
		bad_line(name, lineno, "%s needs a value", key);
		return -1;
	}
	if (!strcmp(key, "route")) {
		if (route_check_template(value, &why)) {
			bad_line(name, lineno, "route '%s' %s", value, why);
			return -1;
		}
		if (cfg->nr_routes >= OA_MAX_CONFIG_ROUTES) {
			bad_line(name, lineno, "more than %d route templates",
				 OA_MAX_CONFIG_ROUTES);
			return -1;
		}
		return add_str(&cfg->routes, &cfg->nr_routes, value);
	}
	if (!strcmp(key, "ignore")) {
		if (route_check_pattern(value, &why)) {
			bad_line(name, lineno, "ignore '%s' %s", value, why);
			return -1;
		}
		if (cfg->nr_ignores >= OA_MAX_CONFIG_IGNORES) {
			bad_line(name, lineno, "more than %d ignore patterns",
				 OA_MAX_CONFIG_IGNORES);
			return -1;
		}
		return add_str(&cfg->ignores, &cfg->nr_ignores, value);
	}
	if (!strcmp(key, "max-series-per-target")) {
		if (once(&seen->max_series_per_target, name, lineno, key))
			return -1;
		if (parse_count(value, &cfg->max_series_per_target)) {
			bad_line(name, lineno,
				 "max-series-per-target takes a number from 1 to %u, got '%s'",
				 OA_MAX_MAP_ENTRIES, value);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "buckets-otel")) {
		if (once(&seen->buckets_otel, name, lineno, key))
			return -1;
		return set_buckets(name, lineno, key, value, cfg->buckets_otel,
				   &cfg->nr_buckets_otel);
	}
	if (once(&seen->buckets_plugin, name, lineno, key))
		return -1;
	return set_buckets(name, lineno, key, value, cfg->buckets_plugin, &cfg->nr_buckets_plugin);
}

int config_parse(FILE *in, const char *name, struct oa_config *cfg)
{
	struct seen_lines seen = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned int lineno = 0;
	int ret = 0;

	while ((len = getline(&line, &cap, in)) >= 0) {
		int err;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			bad_line(name, lineno, "has a NUL byte: not a text file?");
			ret = -1;
			continue;
		}
		if (len > OA_MAX_CONFIG_LINE) {
			bad_line(name, lineno, "longer than %d bytes", OA_MAX_CONFIG_LINE);
			ret = -1;
			continue;
		}
		err = parse_line(cfg, line, name, lineno, &seen);
		if (err == -ENOMEM) {
			fprintf(stderr, "otel-agent: %s: out of memory\n", name);
			ret = -1;
			break;
		}
		if (err)
			ret = -1;
	}
	if (ferror(in)) {
		fprintf(stderr, "otel-agent: cannot read %s: %s\n", name, strerror(errno));
		ret = -1;
	}
	free(line);
	return ret;
}

static int load_file(const char *path, struct oa_config *cfg)
{
	FILE *in = fopen(path, "re");
	int err;

	if (!in) {
		fprintf(stderr, "otel-agent: cannot read the config file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	err = config_parse(in, path, cfg);
	fclose(in);
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
	return -1;
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
		goto fail;
	}
	if (exp->max_series_per_target)
		cfg->max_series_per_target = exp->max_series_per_target;
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
	if (check_bounds_fit(cfg))
		goto fail;
	cfg->rules.templates = (const char *const *)cfg->routes;
	cfg->rules.nr_templates = cfg->nr_routes;
	cfg->rules.ignores = (const char *const *)cfg->ignores;
	cfg->rules.nr_ignores = cfg->nr_ignores;
	return 0;
fail:
	config_free(cfg);
	return -1;
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
