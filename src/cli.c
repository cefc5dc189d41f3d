// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line options of otel-agent: parsing, validation of their form, --help. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "feature_flag.h"

#ifndef OA_VERSION
#define OA_VERSION "0.1.0"
#endif

void cli_usage(FILE *out)
{
	fprintf(out,
		"Usage: otel-agent --pid PID [--pid PID ...] [options]\n"
		"\n"
		"Counts the HTTP/1.x requests a running server answers, from outside the\n"
		"process (eBPF on its socket syscalls), and serves them as Prometheus metrics.\n"
		"\n"
		"  -p, --pid PID             trace this process and its descendants (repeatable)\n"
		"  -l, --listen ADDR:PORT    serve metrics here (default %s;\n"
		"                            IPv6 as [::1]:9464)\n"
		"      --feature-otel=BOOL   publish (true) or not (false); overrides FEATURE_OTEL\n"
		"                            from the agent's and then the target's environment\n"
		"  -v, --verbose             log libbpf and per-scrape details\n"
		"  -h, --help                show this help\n"
		"  -V, --version             show the version\n"
		"\n"
		"Endpoints: /metrics/otel (OpenTelemetry names), /metrics (the plugin's names),\n"
		"/healthz. Needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN for tracefs).\n",
		OA_DEFAULT_LISTEN);
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

enum cli_result cli_parse(int argc, char **argv, struct options *opts)
{
	static const struct option long_opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "feature-otel", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(opts, 0, sizeof(*opts));
	opts->listen = OA_DEFAULT_LISTEN;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":p:l:vhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (opts->nr_pids == OA_MAX_PIDS) {
				fprintf(stderr, "otel-agent: at most %d --pid options\n",
					OA_MAX_PIDS);
				return CLI_USAGE_ERROR;
			}
			if (parse_pid(optarg, &opts->pids[opts->nr_pids])) {
				fprintf(stderr,
					"otel-agent: --pid needs a positive number, got '%s'\n",
					optarg);
				return CLI_USAGE_ERROR;
			}
			opts->nr_pids++;
			break;
		case 'l':
			opts->listen = optarg;
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
	if (!opts->nr_pids) {
		fprintf(stderr, "otel-agent: no target; give --pid PID (see --help)\n");
		return CLI_USAGE_ERROR;
	}
	return CLI_OK;
}
