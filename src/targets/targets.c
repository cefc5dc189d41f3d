// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Target processes as /proc shows them: existence, name, environment, and
 * the OpenTelemetry resource each one is (service, instance, process).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "targets/targets.h"

/* Environments larger than this are read only this far. */
#define ENVIRON_MAX (256 * 1024)
/* Semantic conventions' namespace for a service.instance.id derived from a stable id. */
static const unsigned char instance_id_namespace[16] = {
	0x4d, 0x63, 0x00, 0x9a, 0x8d, 0x0f, 0x11, 0xee,
	0xaa, 0xd7, 0x4c, 0x79, 0x6e, 0xd8, 0xe3, 0x20,
};
/* The starttime field of /proc/PID/stat, counted after the comm's ')' from field 3. */
#define STAT_STARTTIME_AFTER_COMM 20

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

bool target_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Reads a small /proc file into out as a string, without a trailing newline. */
static int read_small(const char *path, char *out, size_t outlen)
{
	ssize_t n;
	int fd;

	if (!outlen)
		return -1;
	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return -1;
	}
	out[n] = '\0';
	if (out[n - 1] == '\n')
		out[n - 1] = '\0';
	return 0;
}

int target_comm(pid_t pid, char *out, size_t outlen)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	return read_small(path, out, outlen);
}

const char *environ_find(const char *block, size_t len, const char *name)
{
	size_t name_len = strlen(name);
	const char *p = block, *end = block + len;

	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		size_t entry_len = nul ? (size_t)(nul - p) : (size_t)(end - p);

		if (entry_len > name_len && !memcmp(p, name, name_len) && p[name_len] == '=')
			return p + name_len + 1;
		p += entry_len + 1;
	}
	return NULL;
}

/* The target's environment block (NUL-terminated entries); NULL if unreadable. */
static char *read_environ(pid_t pid, size_t *len)
{
	char path[64], *block;
	ssize_t n;
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	block = malloc(ENVIRON_MAX + 1);
	if (block) {
		while (got < ENVIRON_MAX && (n = read(fd, block + got, ENVIRON_MAX - got)) > 0)
			got += (size_t)n;
		block[got] = '\0';
		*len = got;
	}
	close(fd);
	return block;
}

int target_getenv(pid_t pid, const char *name, char *out, size_t outlen)
{
	size_t len = 0;
	char *block = read_environ(pid, &len);
	const char *value = block ? environ_find(block, len, name) : NULL;
	int ret = -1;

	if (value && outlen) {
		copy_cut(out, outlen, value);
		ret = 0;
	}
	free(block);
	return ret;
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

/* The base name of /proc/PID/exe, without " (deleted)"; -1 if unreadable. */
static int exe_name(pid_t pid, char *out, size_t outlen)
{
	static const char deleted[] = " (deleted)";
	char path[64], exe[4096];
	const char *base;
	ssize_t n;
	size_t dl = sizeof(deleted) - 1;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	if ((size_t)n > dl && !strcmp(exe + n - dl, deleted))
		exe[n - dl] = '\0';
	base = strrchr(exe, '/');
	copy_cut(out, outlen, base ? base + 1 : exe);
	return 0;
}

/* The precedence of target_service_name, over an already parsed attribute list. */
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

void target_service_name(pid_t pid, char *out, size_t outlen)
{
	char attrs[OA_RESOURCE_ATTRS_LEN], exe[256];
	size_t len = 0;
	char *block = read_environ(pid, &len);
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

/* Percent-decodes s[0..n) into out (NUL-terminated); -1 on a bad escape, a %00 or no room. */
static int percent_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			if (!c)
				return -1;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -1;
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

int proc_start_ticks(const char *stat, unsigned long long *ticks)
{
	const char *p = strrchr(stat, ')');
	char *end;
	int field;

	if (!p)
		return -1;
	p++;
	for (field = 0; field < STAT_STARTTIME_AFTER_COMM; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		if (field < STAT_STARTTIME_AFTER_COMM - 1)
			p += strcspn(p, " ");
	}
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	*ticks = strtoull(p, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\n'))
		return -1;
	return 0;
}

static uint32_t rol32(uint32_t x, unsigned int n)
{
	return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const unsigned char *m)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;
	unsigned int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)m[4 * i] << 24 | (uint32_t)m[4 * i + 1] << 16 |
		       (uint32_t)m[4 * i + 2] << 8 | m[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/* SHA-1 (FIPS 180-4) of a short message, as UUID v5 (RFC 9562) needs it. */
static void sha1(const unsigned char *msg, size_t len, unsigned char digest[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	unsigned char last[128] = { 0 };
	unsigned long long bits = (unsigned long long)len * 8;
	size_t i, rest = len % 64, tail;

	for (i = 0; i + 64 <= len; i += 64)
		sha1_block(h, msg + i);
	memcpy(last, msg + i, rest);
	last[rest] = 0x80;
	tail = rest + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		last[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < tail; i += 64)
		sha1_block(h, last + i);
	for (i = 0; i < 20; i++)
		digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

void resource_instance_id(const char *boot_id, pid_t pid, unsigned long long start_ticks,
			  char out[OA_UUID_LEN])
{
	unsigned char msg[16 + 128], digest[20];
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

static int read_start_ticks(pid_t pid, unsigned long long *ticks)
{
	char path[64], stat[1024];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, stat, sizeof(stat)))
		return -1;
	return proc_start_ticks(stat, ticks);
}

/* This boot's id; "unknown" if the kernel does not say. Read once. */
static const char *boot_id(void)
{
	static char id[64];

	if (!id[0] && read_small("/proc/sys/kernel/random/boot_id", id, sizeof(id)))
		snprintf(id, sizeof(id), "unknown");
	return id;
}

int target_resource(pid_t pid, struct oa_resource *r)
{
	size_t len = 0;
	char *block;
	const char *text;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	r->pid = pid;
	if (read_start_ticks(pid, &r->start_ticks))
		ret = -1;
	else
		resource_instance_id(boot_id(), pid, r->start_ticks, r->instance_id);
	exe_name(pid, r->executable_name, sizeof(r->executable_name));
	if (target_comm(pid, r->command, sizeof(r->command)))
		ret = -1;
	block = read_environ(pid, &len);
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

/* The last target_resources result, and its indexes sorted by pid to find a process again. */
static struct oa_resource *known;
static size_t *known_by_pid;
static size_t nr_known;

static int cmp_index_pid(const void *a, const void *b)
{
	pid_t x = known[*(const size_t *)a].pid, y = known[*(const size_t *)b].pid;

	return (x > y) - (x < y);
}

static const struct oa_resource *find_known(pid_t pid)
{
	size_t lo = 0, hi = nr_known;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct oa_resource *r = &known[known_by_pid[mid]];

		if (r->pid == pid)
			return r;
		if (r->pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct oa_resource *target_resources(const struct oa_target *targets, size_t n)
{
	struct oa_resource *fresh = n ? calloc(n, sizeof(*fresh)) : NULL;
	size_t *by_pid = n ? calloc(n, sizeof(*by_pid)) : NULL;
	size_t i;

	if (!fresh || !by_pid) {
		free(fresh);
		free(by_pid);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		pid_t pid = (pid_t)targets[i].pid;
		const struct oa_resource *old = find_known(pid);
		unsigned long long start;

		if (old && old->start_ticks && !read_start_ticks(pid, &start) &&
		    start == old->start_ticks) {
			fresh[i] = *old;
			/* a process may rename itself (process.title, prctl) */
			target_comm(pid, fresh[i].command, sizeof(fresh[i].command));
		} else {
			target_resource(pid, &fresh[i]);
		}
		by_pid[i] = i;
	}
	free(known);
	free(known_by_pid);
	known = fresh;
	known_by_pid = by_pid;
	nr_known = n;
	qsort(known_by_pid, nr_known, sizeof(*known_by_pid), cmp_index_pid);
	return known;
}
