/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The OpenTelemetry resource each target process is (service, instance,
 * process): what target_info says and where service.name comes from, read
 * once per scrape and kept per process while it lives.
 */
#ifndef OA_RESOURCE_H
#define OA_RESOURCE_H

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

/*
 * What the resources of one scrape keep for the next: this boot's id, and
 * the last resources read, to find a process again. Owned by whoever
 * scrapes (resource_cache_init at start, resource_cache_free at exit).
 */
struct resource_cache {
	char boot_id[64];	   /* "unknown" if the kernel does not say */
	struct oa_resource *known; /* the last resources_read result */
	size_t *known_by_pid;	   /* indexes of known, sorted by pid */
	size_t nr_known;
};

/* Reads this boot's id; the cache starts empty. */
void resource_cache_init(struct resource_cache *c);
/* Accepts a zeroed or freed cache. */
void resource_cache_free(struct resource_cache *c);

/*
 * The one read of the targets' resources in a scrape: snap->resources gets
 * one resource per target of snap->targets, in the same order, and each
 * target its service_name from it. What does not change while a process
 * lives is read once per process (pid and start time) and kept in c for as
 * long as the process stays among the targets; the command is read again
 * each time. snap->resources is owned by c, valid until the next call.
 * With no targets, or when memory is short, snap->resources is NULL, c is
 * left as it was, and each service name is read alone. Not thread-safe:
 * it runs while rendering a scrape, and renders run one at a time
 * (body_stream.c).
 */
void resources_read(struct resource_cache *c, struct oa_snapshot *snap);

/*
 * Reads the resource of a process from /proc, with c's boot id (not its
 * kept resources). Returns 0, or -errno when the process is gone (r then
 * has what could be read).
 */
int resource_read(const struct resource_cache *c, pid_t pid, struct oa_resource *r);

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

/*
 * service.instance.id of a process: the UUID v5, in the namespace semantic
 * conventions give for it, of "BOOT_ID:PID:START_TICKS". The same process
 * always gets the same id; another process, or the same pid after a reboot,
 * another one.
 */
void resource_instance_id(const char *boot_id, pid_t pid, unsigned long long start_ticks,
			  char out[OA_UUID_LEN]);

#endif /* OA_RESOURCE_H */
