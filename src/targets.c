// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Target processes as /proc shows them: existence, name, environment, service name. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "targets.h"

/* Environments larger than this are read only this far. */
#define ENVIRON_MAX (256 * 1024)

bool target_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

int target_comm(pid_t pid, char *out, size_t outlen)
{
	char path[64];
	ssize_t n;
	int fd;

	if (!outlen)
		return -1;
	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
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

int target_getenv(pid_t pid, const char *name, char *out, size_t outlen)
{
	char path[64], *block;
	const char *value;
	ssize_t n, len = 0;
	int fd, ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	block = malloc(ENVIRON_MAX + 1);
	if (!block)
		goto cleanup;
	while (len < ENVIRON_MAX && (n = read(fd, block + len, ENVIRON_MAX - len)) > 0)
		len += n;
	block[len] = '\0';
	value = environ_find(block, (size_t)len, name);
	if (value && outlen) {
		snprintf(out, outlen, "%s", value);
		ret = 0;
	}
cleanup:
	free(block);
	close(fd);
	return ret;
}

void target_service_name(pid_t pid, char *out, size_t outlen)
{
	const char *agent = getenv("OTEL_SERVICE_NAME");
	char path[64], exe[4096];
	ssize_t n;

	if (agent && agent[0]) {
		snprintf(out, outlen, "%s", agent);
		return;
	}
	if (!target_getenv(pid, "OTEL_SERVICE_NAME", out, outlen) && out[0])
		return;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		const char *base;

		exe[n] = '\0';
		base = strrchr(exe, '/');
		snprintf(out, outlen, "%s", base ? base + 1 : exe);
		return;
	}
	snprintf(out, outlen, "unknown_service");
}
