// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line options of otel-agent: parsing, validation of their form, --help. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/buckets.h"
#include "cli.h"
#include "feature_flag.h"
#include "otel_agent.h"
#include "metrics/route.h"
#include "server/http_server.h"

#include "version.h" /* OA_VERSION, written by the Makefile */

/* Long options without a short form. */
enum {
	OPT_PORT = 256,
	OPT_COMM,
	OPT_EXE,
	OPT_MAX_SERIES,
	OPT_MAX_CONNECTIONS,
	OPT_CONFIG,
	OPT_ROUTE,
	OPT_IGNORE,
	OPT_MAX_SERIES_PER_TARGET,
	OPT_BUCKETS_OTEL,
	OPT_BUCKETS_PLUGIN,
	OPT_BODY_SIZES,
	OPT_USER,
	OPT_WEB_CONFIG,
	OPT_ONCE,
	OPT_JSON,
};

/* The interval of otel-agent top, in seconds. */
#define TOP_DELAY_MIN 0.1
#define TOP_DELAY_MAX 3600.0

/* Defaults and limits are printed from their constants, so the text follows the code. */
void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: otel-agent [--pid PID] [--port N] [--comm NAME] [--exe PATH] ... [options]\n"
		"       otel-agent top [targets] [-d SECONDS] [--once] [--json] [options]\n"
		"\n"
		"Counts the HTTP/1.x requests a running server answers, from outside the\n"
		"process (eBPF on its socket syscalls), and serves them as Prometheus metrics.\n"
		"\n"
		"Targets (each repeatable, combinable; each covers the descendants of what it\n"
		"matches, forked before or after the agent started):\n"
		"  -p, --pid PID             this process (it must exist)\n"
		"      --port N              processes serving TCP port N (IPv4 or IPv6), also\n"
		"                            ones that start listening or accepting later\n"
		"      --comm NAME           processes named NAME (first 15 characters, as in\n"
		"                            /proc/PID/comm), also after a restart or a rename\n"
		"      --exe PATH            processes running the executable PATH (absolute);\n"
		"                            for node or python scripts that is the interpreter\n"
		"\n"
		"Options:\n"
		"  -l, --listen ADDR:PORT    serve metrics here (default %s;\n"
		"                            IPv6 as [::1]:9464; port 0: any free port)\n"
		"      --web.config.file FILE\n"
		"                            TLS and basic auth for the endpoint, in the\n"
		"                            Prometheus exporters' format (tls_server_config,\n"
		"                            basic_auth_users with bcrypt hashes)\n"
		"      --feature-otel=BOOL   publish (true) or not (false); overrides FEATURE_OTEL\n"
		"                            from the agent's and then the first target's environment\n"
		"      --max-series N        kernel series map size (default %d); past it new\n"
		"                            series go to a small spill map, counted\n"
		"      --max-connections N   kernel connection and request map sizes (default\n"
		"                            %d); past it connections are not followed, counted\n"
		"      --user NAME           serve as this user (a name or a numeric uid;\n"
		"                            default nobody) once the programs are attached, with\n"
		"                            the few capabilities serving needs, no_new_privs and\n"
		"                            a seccomp allow-list (docs/security.md)\n"
		"  -v, --verbose             log libbpf and per-scrape details\n"
		"  -h, --help                show this help\n"
		"  -V, --version             show the version\n"
		"\n"
		"What is exported (see docs/configuration.md):\n"
		"      --config FILE         read routes, ignore patterns, the series cap and\n"
		"                            bucket bounds from FILE; the options below override\n"
		"                            or extend it\n"
		"      --route TEMPLATE      a route template such as /api/users/{id}: a {name}\n"
		"                            segment matches any one segment; the first template\n"
		"                            that matches names the route; repeatable\n"
		"      --ignore PATTERN      do not export requests whose route matches PATTERN\n"
		"                            ('*' matches anything), e.g. /healthz; repeatable\n"
		"      --max-series-per-target N\n"
		"                            series each target process may export (default\n"
		"                            2000); past it they fold into one series labelled\n"
		"                            otel_metric_overflow=\"true\"\n"
		"      --buckets-otel LIST   /metrics/otel histogram bounds in seconds, as in\n"
		"                            0.005,0.01,0.1 (+Inf is implied)\n"
		"      --buckets-plugin LIST /metrics histogram bounds; both lists together have at\n"
		"                            most %d distinct bounds\n"
		"      --body-sizes          also export the request and response body-size\n"
		"                            histograms (off by default, as in the conventions)\n"
		"\n"
		"otel-agent top: a live table of the targets' requests by method and route in\n"
		"the terminal (keys: r t 4 5 e 1 2 9 a n sort, R reverses, / filters by route,\n"
		"space pauses, q quits); it serves no endpoint and ignores FEATURE_OTEL:\n"
		"  -d, --delay SECONDS       seconds between tables (default 1, %.1f to %.0f)\n"
		"      --once                print one table after -d seconds and exit\n"
		"      --json                print one JSON document per interval (with --once: one)\n"
		"\n"
		"Endpoints: /metrics/otel (OpenTelemetry names), /metrics (the plugin's names),\n"
		"/healthz. Needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN for tracefs).\n",
		OA_DEFAULT_LISTEN, OA_MAX_SERIES, OA_MAX_CONNS, OA_MAX_BOUNDS, TOP_DELAY_MIN,
		TOP_DELAY_MAX);
}

/* -d SECONDS of otel-agent top: a decimal number of seconds. */
static int parse_delay(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= TOP_DELAY_MIN && v <= TOP_DELAY_MAX)) {
		fprintf(stderr, "otel-agent: -d takes seconds from %.1f to %.0f, got '%s'\n",
			TOP_DELAY_MIN, TOP_DELAY_MAX, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Options that make sense only with top, or only without it: one line, -EINVAL. */
static int check_mode(const struct options *opts, bool delay, bool listen)
{
	const struct top_opts *t = &opts->top;

	if (!t->enabled && (delay || t->once || t->json)) {
		fprintf(stderr, "otel-agent: %s is an option of otel-agent top; see --help\n",
			delay	  ? "-d"
			: t->once ? "--once"
				  : "--json");
		return -EINVAL;
	}
	if (t->enabled && (listen || opts->web.cert_pem || opts->user_given)) {
		fprintf(stderr,
			"otel-agent: top serves no endpoint: %s is not one of its options; see --help\n",
			listen		   ? "--listen"
			: opts->user_given ? "--user"
					   : "--web.config.file");
		return -EINVAL;
	}
	return 0;
}

int parse_decimal(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A map size: 1 .. OA_MAX_MAP_ENTRIES. */
static int parse_map_size(const char *opt, const char *s, unsigned int *out)
{
	unsigned long v;

	if (parse_decimal(s, 1, OA_MAX_MAP_ENTRIES, &v)) {
		fprintf(stderr, "otel-agent: %s takes a number from 1 to %u, got '%s'\n", opt,
			OA_MAX_MAP_ENTRIES, s);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

static int parse_buckets(const char *opt, const char *s, double *out, unsigned int *nr)
{
	const char *why;
	int n = buckets_parse(s, out, OA_MAX_BOUNDS, &why);

	if (n < 0) {
		fprintf(stderr, "otel-agent: %s '%s': %s\n", opt, s, why);
		return -EINVAL;
	}
	*nr = (unsigned int)n;
	return 0;
}

/*
 * --listen, checked here so that a typo is a usage error before anything
 * is loaded; the address is resolved again when the endpoint starts.
 */
static int check_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	struct sockaddr_storage addr;
	unsigned long port;
	socklen_t len;

	if (!parse_listen(s, &addr, &len))
		return 0;
	if (colon && colon[1]) {
		const char *digits = colon + 1 + (colon[1] == '-');

		/* a number, but out of range: say so rather than that the form is wrong */
		if (!parse_decimal(digits, 0, ULONG_MAX, &port) &&
		    (digits != colon + 1 || port > 65535)) {
			fprintf(stderr,
				"otel-agent: --listen '%s': the port must be from 0 to 65535 (0: any free port)\n",
				s);
			return -EINVAL;
		}
	}
	fprintf(stderr,
		"otel-agent: --listen '%s' is not ADDR:PORT (for example 127.0.0.1:9464, [::1]:9464, or 127.0.0.1:0 for any free port)\n",
		s);
	return -EINVAL;
}

static bool too_many(size_t n, size_t max, const char *opt)
{
	if (n < max)
		return false;
	fprintf(stderr, "otel-agent: at most %zu %s options\n", max, opt);
	return true;
}

/* Adds one selector option's value; prints one line and returns -EINVAL when it is malformed. */
static int add_selector(struct selectors *sel, int opt, const char *arg)
{
	unsigned long v;

	switch (opt) {
	case 'p':
		if (too_many(sel->nr_pids, OA_MAX_PIDS, "--pid"))
			return -EINVAL;
		if (parse_decimal(arg, 1, INT_MAX, &v)) {
			fprintf(stderr, "otel-agent: --pid needs a positive number, got '%s'\n",
				arg);
			return -EINVAL;
		}
		sel->pids[sel->nr_pids++] = (pid_t)v;
		return 0;
	case OPT_PORT:
		if (too_many(sel->nr_ports, OA_MAX_PORTS, "--port"))
			return -EINVAL;
		if (parse_decimal(arg, 1, 65535, &v)) {
			fprintf(stderr, "otel-agent: --port needs a TCP port 1-65535, got '%s'\n",
				arg);
			return -EINVAL;
		}
		sel->ports[sel->nr_ports++] = (unsigned short)v;
		return 0;
	case OPT_COMM:
		if (too_many(sel->nr_comms, OA_MAX_COMMS, "--comm"))
			return -EINVAL;
		if (!arg[0] || strchr(arg, '\n')) {
			fprintf(stderr,
				"otel-agent: --comm needs a process name (as in /proc/PID/comm), got '%s'\n",
				arg);
			return -EINVAL;
		}
		sel->comms[sel->nr_comms++] = arg;
		return 0;
	case OPT_EXE:
		if (too_many(sel->nr_exes, OA_MAX_EXES, "--exe"))
			return -EINVAL;
		if (arg[0] != '/' || strlen(arg) > OA_MAX_EXE - 2) {
			fprintf(stderr,
				"otel-agent: --exe needs an absolute path of at most %d bytes, got '%s'\n",
				OA_MAX_EXE - 2, arg);
			return -EINVAL;
		}
		sel->exes[sel->nr_exes++] = arg;
		return 0;
	}
	return -EINVAL;
}

/* Adds one --route or --ignore; prints one line and returns -EINVAL when it is malformed. */
static int add_route_opt(struct export_opts *exp, int opt, const char *arg)
{
	bool route = opt == OPT_ROUTE;
	const char *name = route ? "--route" : "--ignore";
	const char **v = route ? exp->routes : exp->ignores;
	size_t *n = route ? &exp->nr_routes : &exp->nr_ignores;
	const char *why;

	if (too_many(*n, OA_MAX_ROUTE_OPTS, name))
		return -EINVAL;
	if ((route ? route_check_template : route_check_pattern)(arg, &why)) {
		fprintf(stderr, "otel-agent: %s '%s' %s\n", name, arg, why);
		return -EINVAL;
	}
	v[(*n)++] = arg;
	return 0;
}

/* The options of struct export_opts; returns -EINVAL after printing one line when malformed. */
static int export_opt(struct export_opts *exp, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CONFIG:
		if (!arg[0]) {
			fprintf(stderr, "otel-agent: --config needs a file name\n");
			return -EINVAL;
		}
		exp->config = arg;
		return 0;
	case OPT_ROUTE:
	case OPT_IGNORE:
		return add_route_opt(exp, opt, arg);
	case OPT_MAX_SERIES_PER_TARGET:
		return parse_map_size("--max-series-per-target", arg, &exp->max_series_per_target);
	case OPT_BUCKETS_OTEL:
		return parse_buckets("--buckets-otel", arg, exp->buckets_otel,
				     &exp->nr_buckets_otel);
	case OPT_BUCKETS_PLUGIN:
		return parse_buckets("--buckets-plugin", arg, exp->buckets_plugin,
				     &exp->nr_buckets_plugin);
	case OPT_BODY_SIZES:
		exp->body_sizes = true;
		return 0;
	}
	return -EINVAL;
}

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "max-series", required_argument, NULL, OPT_MAX_SERIES },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "route", required_argument, NULL, OPT_ROUTE },
	{ "ignore", required_argument, NULL, OPT_IGNORE },
	{ "max-series-per-target", required_argument, NULL, OPT_MAX_SERIES_PER_TARGET },
	{ "buckets-otel", required_argument, NULL, OPT_BUCKETS_OTEL },
	{ "buckets-plugin", required_argument, NULL, OPT_BUCKETS_PLUGIN },
	{ "body-sizes", no_argument, NULL, OPT_BODY_SIZES },
	{ "user", required_argument, NULL, OPT_USER },
	{ "listen", required_argument, NULL, 'l' },
	{ "web.config.file", required_argument, NULL, OPT_WEB_CONFIG },
	{ "feature-otel", required_argument, NULL, 'F' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "delay", required_argument, NULL, 'd' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

enum cli_result cli_parse(int argc, char **argv, struct options *opts)
{
	const struct selectors *sel = &opts->sel;
	bool delay = false, listen = false;
	int c;

	memset(opts, 0, sizeof(*opts));
	opts->listen = OA_DEFAULT_LISTEN;
	opts->user = OA_DEFAULT_USER;
	opts->top.delay_s = 1.0;
	if (argc > 1 && !strcmp(argv[1], "top")) {
		/* parsed as if "top" were the program: getopt starts at what follows */
		opts->top.enabled = true;
		argc--;
		argv++;
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:l:d:vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case OPT_PORT:
		case OPT_COMM:
		case OPT_EXE:
			if (add_selector(&opts->sel, c, optarg))
				return CLI_USAGE_ERROR;
			break;
		case OPT_MAX_SERIES:
			if (parse_map_size("--max-series", optarg, &opts->limits.max_series))
				return CLI_USAGE_ERROR;
			break;
		case OPT_MAX_CONNECTIONS:
			if (parse_map_size("--max-connections", optarg,
					   &opts->limits.max_connections))
				return CLI_USAGE_ERROR;
			break;
		case OPT_CONFIG:
		case OPT_ROUTE:
		case OPT_IGNORE:
		case OPT_MAX_SERIES_PER_TARGET:
		case OPT_BUCKETS_OTEL:
		case OPT_BUCKETS_PLUGIN:
		case OPT_BODY_SIZES:
			if (export_opt(&opts->exp, c, optarg))
				return CLI_USAGE_ERROR;
			break;
		case 'l':
			if (check_listen(optarg))
				return CLI_USAGE_ERROR;
			opts->listen = optarg;
			listen = true;
			break;
		case 'd':
			if (parse_delay(optarg, &opts->top.delay_s))
				return CLI_USAGE_ERROR;
			delay = true;
			break;
		case OPT_ONCE:
			opts->top.once = true;
			break;
		case OPT_JSON:
			opts->top.json = true;
			break;
		case OPT_WEB_CONFIG:
			/* read now: a mistake is a usage error before anything is loaded */
			web_config_free(&opts->web);
			if (web_config_load(optarg, &opts->web))
				return CLI_USAGE_ERROR;
			break;
		case 'F':
			if (flag_parse_value(optarg) < 0) {
				fprintf(stderr,
					"otel-agent: --feature-otel takes true or false (also 1/0, yes/no, on/off), got '%s'\n",
					optarg);
				return CLI_USAGE_ERROR;
			}
			opts->feature_otel = optarg;
			break;
		case OPT_USER:
			if (!optarg[0]) {
				fprintf(stderr,
					"otel-agent: --user needs a user name or uid (default "
					"nobody; root keeps uid 0)\n");
				return CLI_USAGE_ERROR;
			}
			opts->user = optarg;
			opts->user_given = true;
			break;
		case 'v':
			opts->verbose = true;
			break;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("otel-agent %s\n", OA_VERSION);
			return CLI_EXIT_OK;
		case ':':
			fprintf(stderr, "otel-agent: option '%s' needs a value; see --help\n",
				argv[optind - 1]);
			return CLI_USAGE_ERROR;
		default:
			fprintf(stderr, "otel-agent: unknown option '%s'; see --help\n",
				argv[optind - 1]);
			return CLI_USAGE_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "otel-agent: unexpected argument '%s'; see --help\n", argv[optind]);
		return CLI_USAGE_ERROR;
	}
	if (check_mode(opts, delay, listen))
		return CLI_USAGE_ERROR;
	if (!sel->nr_pids && !sel->nr_ports && !sel->nr_comms && !sel->nr_exes) {
		fprintf(stderr,
			"otel-agent: no target; give --pid PID, --port N, --comm NAME or --exe PATH (see --help)\n");
		return CLI_USAGE_ERROR;
	}
	return CLI_OK;
}
