/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Logging to stderr: one line per event, prefixed with the program name. */
#ifndef OA_LOG_H
#define OA_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_DEBUG, /* shown with -v only */
	LOG_INFO,
	LOG_ERROR,
};

void log_set_verbose(bool verbose);
bool log_is_verbose(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif /* OA_LOG_H */
