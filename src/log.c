// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Logging to stderr: one line per event, prefixed with the program name. */
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

static bool verbose;

void log_set_verbose(bool v)
{
	verbose = v;
}

bool log_is_verbose(void)
{
	return verbose;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level == LOG_DEBUG && !verbose)
		return;
	fputs(level == LOG_ERROR ? "otel-agent: error: " : "otel-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
