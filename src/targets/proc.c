// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One process as /proc shows it: the small-file reader, the /proc/PID/stat
 * parser, the name, the executable and the environment, for target
 * selection (discover.c) and the resource attributes (resource.c).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "targets/proc.h"

/* Environments larger than this are read only this far. */
#define ENVIRON_MAX (256 * 1024)
/* The fields of /proc/PID/stat the parser reads (proc(5) numbers them from 1). */
#define STAT_PPID      4
#define STAT_STARTTIME 22

bool proc_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

int proc_read_file(const char *path, char *out, size_t outlen)
{
	size_t got = 0;
	ssize_t n = 0;
	int fd, err;

	if (!outlen)
		return -EINVAL;
	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < outlen - 1 && (n = read(fd, out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err || !got) {
		out[0] = '\0';
		return err ? err : -ENODATA;
	}
	out[got] = '\0';
	if (out[got - 1] == '\n')
		out[got - 1] = '\0';
	return 0;
}

/* The start of field nr (after the comm: 3 or more) of a stat line; NULL past its end. */
static const char *stat_field(const char *after_comm, int nr)
{
	const char *p = after_comm;

	for (int field = 3;; field++) {
		p += strspn(p, " ");
		if (!*p || *p == '\n')
			return NULL;
		if (field == nr)
			return p;
		p += strcspn(p, " ");
	}
}

/* A decimal number that ends where its field does. */
static int parse_field(const char *field, unsigned long long *v)
{
	char *end;

	if (!field || !isdigit((unsigned char)*field))
		return -EINVAL;
	errno = 0;
	*v = strtoull(field, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	return 0;
}

int proc_stat_parse(const char *text, struct proc_stat *st)
{
	const char *open = strchr(text, '(');
	const char *close = strrchr(text, ')');
	unsigned long long ppid, start;
	size_t len;

	if (!open || !close || close < open)
		return -EINVAL;
	if (parse_field(stat_field(close + 1, STAT_PPID), &ppid) || ppid > INT_MAX ||
	    parse_field(stat_field(close + 1, STAT_STARTTIME), &start))
		return -EINVAL;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(st->comm))
		len = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, len);
	st->comm[len] = '\0';
	st->ppid = (pid_t)ppid;
	st->start_ticks = start;
	return 0;
}

int proc_stat_read(pid_t pid, struct proc_stat *st)
{
	char path[64], text[1024];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = proc_read_file(path, text, sizeof(text));
	if (err)
		return err;
	return proc_stat_parse(text, st);
}

int proc_comm(pid_t pid, char *out, size_t outlen)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	return proc_read_file(path, out, outlen);
}

int proc_exe(pid_t pid, char *out, size_t outlen)
{
	char path[64];
	ssize_t n;

	if (!outlen)
		return -EINVAL;
	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, outlen - 1);
	if (n < 0)
		return -errno;
	if (!n)
		return -ENODATA;
	out[n] = '\0';
	return 0;
}

char *proc_environ(pid_t pid, size_t *len)
{
	char path[64], *block;
	size_t got = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	block = malloc(ENVIRON_MAX + 1);
	if (!block) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	while (got < ENVIRON_MAX && (n = read(fd, block + got, ENVIRON_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	block[got] = '\0';
	*len = got;
	return block;
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

int proc_getenv(pid_t pid, const char *name, char *out, size_t outlen)
{
	size_t len = 0;
	char *block;
	const char *value;

	if (!outlen)
		return -EINVAL;
	block = proc_environ(pid, &len);
	if (!block)
		return -errno;
	value = environ_find(block, len, name);
	if (value)
		snprintf(out, outlen, "%s", value);
	free(block);
	return value ? 0 : -ENOENT;
}
