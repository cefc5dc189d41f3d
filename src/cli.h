/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line options of otel-agent. */
#ifndef OA_CLI_H
#define OA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include "otel_agent.h"
#include "server/web_config.h"

#define OA_MAX_PIDS 64
/* Each selector map holds OA_MAX_SELECTORS keys; an --exe takes two (as given and resolved). */
#define OA_MAX_PORTS	  OA_MAX_SELECTORS
#define OA_MAX_COMMS	  OA_MAX_SELECTORS
#define OA_MAX_EXES	  (OA_MAX_SELECTORS / 2)
#define OA_DEFAULT_LISTEN "127.0.0.1:9464"
#define OA_DEFAULT_USER	  "nobody"

/* Which processes to trace; every selector also covers the descendants of what it matches. */
struct selectors {
	pid_t pids[OA_MAX_PIDS]; /* --pid: these processes (they must exist at start) */
	size_t nr_pids;
	unsigned short ports[OA_MAX_PORTS]; /* --port: processes serving these TCP ports */
	size_t nr_ports;
	const char *comms[OA_MAX_COMMS]; /* --comm: processes with this name (first 15 chars) */
	size_t nr_comms;
	const char *exes[OA_MAX_EXES]; /* --exe: processes running this executable (absolute) */
	size_t nr_exes;
};

/*
 * Kernel map sizes (0: the built-in OA_MAX_SERIES, OA_MAX_CONNS); bigger
 * costs kernel memory, smaller drops sooner.
 */
struct map_limits {
	unsigned int max_series;	/* --max-series: distinct (process, method, status, path) */
	unsigned int max_connections;	/* --max-connections: sockets and waiting requests */
	unsigned int series_per_target; /* series a target may hold in the kernel (0: no cap) */
	bool body_sizes;		/* the kernel counts body sizes */
};

#define OA_MAX_MAP_ENTRIES (1u << 22)

/* --route and --ignore options accepted (a config file may add more). */
#define OA_MAX_ROUTE_OPTS 256

/* What is exported and how: routes, ignore patterns, the cardinality cap, histogram bounds. */
struct export_opts {
	const char *config; /* --config FILE: read first; the options below override or extend it */
	const char *routes[OA_MAX_ROUTE_OPTS]; /* --route: templates, tried before the file's */
	size_t nr_routes;
	const char *ignores[OA_MAX_ROUTE_OPTS]; /* --ignore: globs on the route */
	size_t nr_ignores;
	unsigned int max_series_per_target;   /* --max-series-per-target; 0 when not given */
	double buckets_otel[OA_MAX_BOUNDS];   /* --buckets-otel: /metrics/otel bounds (seconds) */
	unsigned int nr_buckets_otel;	      /* 0 when not given */
	double buckets_plugin[OA_MAX_BOUNDS]; /* --buckets-plugin: /metrics bounds (seconds) */
	unsigned int nr_buckets_plugin;	      /* 0 when not given */
	bool body_sizes;		      /* --body-sizes: on (the file may also turn it on) */
};

/* otel-agent top: a live table in the terminal instead of the endpoints (src/top/). */
struct top_opts {
	bool enabled;	/* the first argument is "top" */
	double delay_s; /* -d: seconds between tables (default 1) */
	bool once;	/* --once: one table after delay_s, then exit */
	bool json;	/* --json: one JSON document per interval */
};

struct options {
	struct selectors sel;
	struct map_limits limits;
	struct export_opts exp;
	const char *listen;	  /* ADDR:PORT or [ADDR6]:PORT */
	const char *feature_otel; /* NULL when not given */
	const char *user;	  /* --user: who serves once attached (privilege.h) */
	bool user_given;	  /* --user was on the command line */
	struct web_config web;	  /* --web.config.file, read by cli_parse; empty without */
	bool verbose;
	struct top_opts top;
};

enum cli_result {
	CLI_OK = 0,
	CLI_EXIT_OK, /* --help or --version printed */
	CLI_USAGE_ERROR,
};

/* Parses argv into opts; prints one line to stderr on error. */
enum cli_result cli_parse(int argc, char **argv, struct options *opts);
void cli_usage(FILE *out);

/*
 * A decimal number from min to max, digits only: 0, or -EINVAL. (Options,
 * the config file, the --listen port.)
 */
int parse_decimal(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif /* OA_CLI_H */
