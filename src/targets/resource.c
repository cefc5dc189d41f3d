// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The OpenTelemetry resource each target process is: service.name (the
 * agent's or the target's OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES,
 * else the executable), service.instance.id, the process attributes and the
 * rest of OTEL_RESOURCE_ATTRIBUTES; and the cache that reads each process
 * once while it lives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "targets/proc.h"
#include "targets/resource.h"
#include "targets/sha1.h"

/* Semantic conventions' namespace for a service.instance.id derived from a stable id. */
static const unsigned char instance_id_namespace[16] = {
	0x4d, 0x63, 0x00, 0x9a, 0x8d, 0x0f, 0x11, 0xee,
	0xaa, 0xd7, 0x4c, 0x79, 0x6e, 0xd8, 0xe3, 0x20,
};

/* Copies s into out, cut to fit. */
static void copy_cut(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);

	if (!outlen)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* A variable of the agent's environment if set and not empty, else of the target's. */
static const char *agent_else_target(const char *block, size_t len, const char *name)
{
	const char *v = getenv(name);

	if (v && v[0])
		return v;
	v = block ? environ_find(block, len, name) : NULL;
	return v && v[0] ? v : NULL;
}

/* The base name of /proc/PID/exe, without " (deleted)"; out is "" if unreadable. */
static void exe_name(pid_t pid, char *out, size_t outlen)
{
	static const char deleted[] = " (deleted)";
	size_t n, dl = sizeof(deleted) - 1;
	char exe[4096];
	const char *base;

	out[0] = '\0';
	if (proc_exe(pid, exe, sizeof(exe)))
		return;
	n = strlen(exe);
	if (n > dl && !strcmp(exe + n - dl, deleted))
		exe[n - dl] = '\0';
	base = strrchr(exe, '/');
	copy_cut(out, outlen, base ? base + 1 : exe);
}

/* service.name's precedence, over an already parsed attribute list. */
static void resolve_service_name(const char *block, size_t len, const char *attrs, const char *exe,
				 char *out, size_t outlen)
{
	const char *v = agent_else_target(block, len, "OTEL_SERVICE_NAME");

	if (!v)
		v = resource_attr(attrs, "service.name");
	if (!v || !v[0])
		v = exe && exe[0] ? exe : "unknown_service";
	copy_cut(out, outlen, v);
}

/* The service.name of a process alone, when there is no memory for its whole resource. */
static void service_name_alone(pid_t pid, char *out, size_t outlen)
{
	char attrs[OA_RESOURCE_ATTRS_LEN], exe[256];
	size_t len = 0;
	char *block = proc_environ(pid, &len);
	const char *text = agent_else_target(block, len, "OTEL_RESOURCE_ATTRIBUTES");

	resource_attrs_parse(text ? text : "", attrs, sizeof(attrs));
	exe_name(pid, exe, sizeof(exe));
	resolve_service_name(block, len, attrs, exe, out, outlen);
	free(block);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (NUL-terminated); -EINVAL on a bad escape, a %00 or no room. */
static int percent_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			if (!c)
				return -EINVAL;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Length of the parsed list up to its closing empty key. */
static size_t attrs_used(const char *attrs)
{
	const char *p = attrs;

	while (*p) {
		p += strlen(p) + 1; /* key */
		p += strlen(p) + 1; /* value */
	}
	return (size_t)(p - attrs);
}

/* Removes key from a parsed list; returns how many attributes were removed. */
static int attrs_remove(char *attrs, const char *key)
{
	char *p = attrs;
	int removed = 0;

	while (*p) {
		char *v = p + strlen(p) + 1;
		char *next = v + strlen(v) + 1;

		if (!strcmp(p, key)) {
			memmove(p, next, attrs_used(next) + 1);
			removed++;
			continue;
		}
		p = next;
	}
	return removed;
}

int resource_attrs_parse(const char *text, char *out, size_t outlen)
{
	char key[OA_RESOURCE_ATTRS_LEN], value[OA_RESOURCE_ATTRS_LEN];
	const char *p = text;
	size_t used = 0;
	int count = 0;

	if (!outlen)
		return 0;
	out[0] = '\0';
	while (p && *p) {
		size_t n = strcspn(p, ","), kn, vn;
		const char *k = p, *v, *eq = memchr(p, '=', n);

		p += n + (p[n] == ',');
		if (!eq)
			continue;
		kn = (size_t)(eq - k);
		v = eq + 1;
		vn = n - kn - 1;
		trim(&k, &kn);
		trim(&v, &vn);
		if (percent_decode(k, kn, key, sizeof(key)) || !key[0] ||
		    percent_decode(v, vn, value, sizeof(value)))
			continue;
		count -= attrs_remove(out, key);
		used = attrs_used(out);
		kn = strlen(key);
		vn = strlen(value);
		if (count >= OA_RESOURCE_MAX_ATTRS || used + kn + vn + 3 > outlen)
			continue;
		memcpy(out + used, key, kn + 1);
		memcpy(out + used + kn + 1, value, vn + 1);
		out[used + kn + vn + 2] = '\0';
		count++;
	}
	return count;
}

const char *resource_attr(const char *attrs, const char *key)
{
	const char *p = attrs;

	while (*p) {
		const char *v = p + strlen(p) + 1;

		if (!strcmp(p, key))
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

void resource_instance_id(const char *boot_id, pid_t pid, unsigned long long start_ticks,
			  char out[OA_UUID_LEN])
{
	unsigned char msg[16 + 128], digest[SHA1_DIGEST_LEN];
	int n;

	memcpy(msg, instance_id_namespace, 16);
	n = snprintf((char *)msg + 16, sizeof(msg) - 16, "%s:%d:%llu", boot_id, (int)pid,
		     start_ticks);
	if (n < 0 || (size_t)n >= sizeof(msg) - 16)
		n = (int)(sizeof(msg) - 16 - 1);
	sha1(msg, 16 + (size_t)n, digest);
	digest[6] = (digest[6] & 0x0f) | 0x50; /* version 5 */
	digest[8] = (digest[8] & 0x3f) | 0x80; /* RFC variant */
	snprintf(out, OA_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", digest[0],
		 digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
		 digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14],
		 digest[15]);
}

int resource_read(const struct resource_cache *c, pid_t pid, struct oa_resource *r)
{
	struct proc_stat st;
	size_t len = 0;
	char *block;
	const char *text;
	int err, ret;

	memset(r, 0, sizeof(*r));
	r->pid = pid;
	ret = proc_stat_read(pid, &st);
	if (!ret) {
		r->start_ticks = st.start_ticks;
		resource_instance_id(c->boot_id, pid, r->start_ticks, r->instance_id);
	}
	exe_name(pid, r->executable_name, sizeof(r->executable_name));
	err = proc_comm(pid, r->command, sizeof(r->command));
	if (!ret)
		ret = err;
	block = proc_environ(pid, &len);
	text = agent_else_target(block, len, "OTEL_RESOURCE_ATTRIBUTES");
	resource_attrs_parse(text ? text : "", r->attrs, sizeof(r->attrs));
	resolve_service_name(block, len, r->attrs, r->executable_name, r->service_name,
			     sizeof(r->service_name));
	/* the name resolved above, and the real pid, stand for these */
	attrs_remove(r->attrs, "service.name");
	attrs_remove(r->attrs, "process.pid");
	free(block);
	return ret;
}

void resource_cache_init(struct resource_cache *c)
{
	memset(c, 0, sizeof(*c));
	if (proc_read_file("/proc/sys/kernel/random/boot_id", c->boot_id, sizeof(c->boot_id)))
		snprintf(c->boot_id, sizeof(c->boot_id), "unknown");
}

void resource_cache_free(struct resource_cache *c)
{
	if (!c)
		return;
	free(c->known);
	free(c->known_by_pid);
	c->known = NULL;
	c->known_by_pid = NULL;
	c->nr_known = 0;
}

/* Orders indexes into the resources rs by their pid. */
static int cmp_index_pid(const void *a, const void *b, void *rs)
{
	const struct oa_resource *r = rs;
	pid_t x = r[*(const size_t *)a].pid, y = r[*(const size_t *)b].pid;

	return (x > y) - (x < y);
}

static const struct oa_resource *find_known(const struct resource_cache *c, pid_t pid)
{
	size_t lo = 0, hi = c->nr_known;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct oa_resource *r = &c->known[c->known_by_pid[mid]];

		if (r->pid == pid)
			return r;
		if (r->pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The resources of targets[0..n) into c, replacing the last ones; -ENOMEM leaves c as it was. */
static int cache_update(struct resource_cache *c, const struct oa_target *targets, size_t n)
{
	struct oa_resource *fresh = calloc(n, sizeof(*fresh));
	size_t *by_pid = calloc(n, sizeof(*by_pid));
	struct proc_stat st;

	if (!fresh || !by_pid) {
		free(fresh);
		free(by_pid);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		pid_t pid = (pid_t)targets[i].pid;
		const struct oa_resource *old = find_known(c, pid);

		if (old && old->start_ticks && !proc_stat_read(pid, &st) &&
		    st.start_ticks == old->start_ticks) {
			fresh[i] = *old;
			/* a process may rename itself (process.title, prctl) */
			proc_comm(pid, fresh[i].command, sizeof(fresh[i].command));
		} else {
			resource_read(c, pid, &fresh[i]);
		}
		by_pid[i] = i;
	}
	qsort_r(by_pid, n, sizeof(*by_pid), cmp_index_pid, fresh);
	resource_cache_free(c);
	c->known = fresh;
	c->known_by_pid = by_pid;
	c->nr_known = n;
	return 0;
}

void resources_read(struct resource_cache *c, struct oa_snapshot *snap)
{
	/* the snapshot's own array (snapshot_free frees it); const is for the renderers */
	struct oa_target *targets = (struct oa_target *)snap->targets;
	size_t n = snap->nr_targets;

	snap->resources = NULL;
	if (n && !cache_update(c, targets, n))
		snap->resources = c->known;
	for (size_t i = 0; i < n; i++) {
		if (snap->resources)
			copy_cut(targets[i].service_name, sizeof(targets[i].service_name),
				 snap->resources[i].service_name);
		else
			service_name_alone((pid_t)targets[i].pid, targets[i].service_name,
					   sizeof(targets[i].service_name));
	}
}
