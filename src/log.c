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

static void vlog(const char *fmt, va_list ap)
{
	fputs("otel-agent: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
