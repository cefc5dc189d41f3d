/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Target processes as /proc shows them: existence, name, environment, service name. */
#ifndef OA_TARGETS_H
#define OA_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

bool target_exists(pid_t pid);

/* The process name (/proc/PID/comm, without the newline); -1 if it is gone. */
int target_comm(pid_t pid, char *out, size_t outlen);

/* Finds NAME in a NUL-separated NAME=VALUE block (as /proc/PID/environ); NULL if absent. */
const char *environ_find(const char *block, size_t len, const char *name);

/* Copies the target's value of NAME into out; -1 if unset or unreadable. */
int target_getenv(pid_t pid, const char *name, char *out, size_t outlen);

/* OTEL_SERVICE_NAME from the agent's environment, else the target's, else its executable's name. */
void target_service_name(pid_t pid, char *out, size_t outlen);

#endif /* OA_TARGETS_H */
