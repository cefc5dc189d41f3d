/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Logging to stderr: one line per event, prefixed with the program name. */
#ifndef OA_LOG_H
#define OA_LOG_H

#include <stdbool.h>

void log_set_verbose(bool verbose);
bool log_is_verbose(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* OA_LOG_H */
