/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the configuration file (--config) and what is exported after
 * merging it with the options: route templates, ignore patterns, the
 * series cap per target, the bucket bounds of both endpoints. The format
 * is documented in docs/configuration.md.
 */
#ifndef OA_CONFIG_H
#define OA_CONFIG_H

#include <stdio.h>
#include "cli.h"
#include "otel_agent.h"
#include "metrics/route.h"

/* Series one target process may export before new ones fold into the overflow series. */
#define OA_DEFAULT_MAX_SERIES_PER_TARGET 2000
/* Route templates and ignore patterns in all (file and options); lines longer are an error. */
#define OA_MAX_CONFIG_ROUTES  4096
#define OA_MAX_CONFIG_IGNORES 1024
#define OA_MAX_CONFIG_LINE    4096
/* The most of a config file that is read: a larger one is an error (docs/configuration.md). */
#define OA_MAX_CONFIG_BYTES (1 << 20)

struct oa_config {
	char **routes; /* templates in the order tried: --route options first, then the file's */
	size_t nr_routes;
	char **ignores; /* glob patterns on the route, from both */
	size_t nr_ignores;
	unsigned int max_series_per_target;
	double buckets_otel[OA_MAX_BOUNDS]; /* seconds; nr 0: the built-in bounds */
	unsigned int nr_buckets_otel;
	double buckets_plugin[OA_MAX_BOUNDS];
	unsigned int nr_buckets_plugin;
	bool body_sizes;	  /* export body-size histograms: --body-sizes or body-sizes true */
	struct route_rules rules; /* routes and ignores as route_resolve takes them */
};

/*
 * Reads the configuration file in (named name in messages) into cfg, adding
 * to what cfg has. Every bad line is reported on stderr as
 * "otel-agent: NAME:LINE: what is wrong". Returns 0, -EINVAL if any line was
 * bad, or another -errno (ENOMEM, a read error).
 */
int config_parse(FILE *in, const char *name, struct oa_config *cfg);

/*
 * The configuration in force: the file exp->config (if any: a regular
 * file of at most OA_MAX_CONFIG_BYTES, else -EINVAL or -EFBIG), then the
 * options on top (--route before the file's templates, --ignore added,
 * --max-series-per-target and --buckets-* replacing the file's). Checks
 * that both endpoints' bounds together fit the kernel's OA_MAX_BOUNDS.
 * Prints one line per problem; returns 0, or -errno (EINVAL: a bad option
 * or line) with cfg freed.
 */
int config_build(const struct export_opts *exp, struct oa_config *cfg);

/* Sets buckets_otel and buckets_plugin (buckets.c) to the configured bounds, if any. */
int config_apply_buckets(const struct oa_config *cfg);

/* Accepts a zeroed or freed cfg. */
void config_free(struct oa_config *cfg);

#endif /* OA_CONFIG_H */
