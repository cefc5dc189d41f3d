/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line options of otel-agent. */
#ifndef OA_CLI_H
#define OA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define OA_MAX_PIDS	  64
#define OA_DEFAULT_LISTEN "127.0.0.1:9464"

struct options {
	pid_t pids[OA_MAX_PIDS];
	size_t nr_pids;
	const char *listen;	  /* ADDR:PORT or [ADDR6]:PORT */
	const char *feature_otel; /* NULL when not given */
	bool verbose;
};

enum cli_result {
	CLI_OK = 0,
	CLI_EXIT_OK, /* --help or --version printed */
	CLI_USAGE_ERROR,
};

/* Parses argv into opts; prints one line to stderr on error. */
enum cli_result cli_parse(int argc, char **argv, struct options *opts);
void cli_usage(FILE *out);

#endif /* OA_CLI_H */
