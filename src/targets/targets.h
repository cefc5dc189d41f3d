/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Target processes as /proc shows them: existence, name, environment, and
 * the OpenTelemetry resource each one is (service, instance, process).
 */
#ifndef OA_TARGETS_H
#define OA_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "metrics/series.h"

/* Room for the attributes kept from OTEL_RESOURCE_ATTRIBUTES, decoded. */
#define OA_RESOURCE_ATTRS_LEN 1024
/* At most this many attributes are kept from OTEL_RESOURCE_ATTRIBUTES. */
#define OA_RESOURCE_MAX_ATTRS 32
/* A UUID in its 8-4-4-4-12 text form, with the NUL. */
#define OA_UUID_LEN 37

/*
 * One target process as a resource: what its target_info says. Empty
 * strings are attributes that could not be read; they are left out.
 */
struct oa_resource {
	pid_t pid;			/* process.pid */
	unsigned long long start_ticks; /* /proc/PID/stat starttime */
	char service_name[128];		/* service.name */
	char instance_id[OA_UUID_LEN];	/* service.instance.id */
	char executable_name[256];	/* process.executable.name: base name of /proc/PID/exe */
	char command[16];		/* process.command: /proc/PID/comm */
	/*
	 * The other attributes of OTEL_RESOURCE_ATTRIBUTES, decoded: "key\0value\0"
	 * for each, then an empty key. service.name and process.pid are not here.
	 */
	char attrs[OA_RESOURCE_ATTRS_LEN];
};

bool target_exists(pid_t pid);

/* The process name (/proc/PID/comm, without the newline); -1 if it is gone. */
int target_comm(pid_t pid, char *out, size_t outlen);

/* Finds NAME in a NUL-separated NAME=VALUE block (as /proc/PID/environ); NULL if absent. */
const char *environ_find(const char *block, size_t len, const char *name);

/* Copies the target's value of NAME into out; -1 if unset or unreadable. */
int target_getenv(pid_t pid, const char *name, char *out, size_t outlen);

/*
 * service.name: OTEL_SERVICE_NAME (the agent's, else the target's), else
 * service.name in OTEL_RESOURCE_ATTRIBUTES (the agent's, else the
 * target's), else the executable's base name.
 */
void target_service_name(pid_t pid, char *out, size_t outlen);

/*
 * Parses OTEL_RESOURCE_ATTRIBUTES ("key1=value1,key2=value2", keys and
 * values percent-encoded, blanks around them ignored) into out as
 * "key\0value\0"... and an empty key. A pair without '=', with an empty key,
 * with a bad %XX escape or a %00, or that does not fit is left out; a key
 * given twice keeps its last value. Returns the number of attributes kept.
 */
int resource_attrs_parse(const char *text, char *out, size_t outlen);

/* The value of key in a parsed attribute list; NULL if absent. */
const char *resource_attr(const char *attrs, const char *key);

/* The starttime field (22) of a /proc/PID/stat line; -1 if malformed. */
int proc_start_ticks(const char *stat, unsigned long long *ticks);

/*
 * service.instance.id of a process: the UUID v5, in the namespace semantic
 * conventions give for it, of "BOOT_ID:PID:START_TICKS". The same process
 * always gets the same id; another process, or the same pid after a reboot,
 * another one.
 */
void resource_instance_id(const char *boot_id, pid_t pid, unsigned long long start_ticks,
			  char out[OA_UUID_LEN]);

/* Reads the resource of a process from /proc; -1 if it is gone (r has what could be read). */
int target_resource(pid_t pid, struct oa_resource *r);

/*
 * The resources of targets[0..n), in the same order, for
 * oa_snapshot.resources. What does not change while a process lives is read
 * once per process (pid and start time) and kept between calls; the
 * command is read again each time. The array is valid until the next call.
 * NULL when n is 0 or memory is short. Not thread-safe: it is called while
 * rendering a scrape, and renders run one at a time (body_stream.c).
 */
const struct oa_resource *target_resources(const struct oa_target *targets, size_t n);

#endif /* OA_TARGETS_H */
