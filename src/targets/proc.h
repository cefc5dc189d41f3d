/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One process as /proc shows it: the small-file reader, the /proc/PID/stat
 * parser, the name, the executable and the environment. Target selection
 * (discover.c) and the resource attributes (resource.c) read /proc only
 * through these.
 */
#ifndef OA_PROC_H
#define OA_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* TASK_COMM_LEN: 15 characters and a NUL. */
#define OA_COMM_LEN 16

/* The fields of /proc/PID/stat the agent uses. */
struct proc_stat {
	char comm[OA_COMM_LEN];		/* field 2, cut to OA_COMM_LEN - 1 characters */
	pid_t ppid;			/* field 4 */
	unsigned long long start_ticks; /* field 22: clock ticks after boot */
};

/* Whether pid is a process, even one the agent may not signal. */
bool proc_exists(pid_t pid);

/*
 * Reads a small file of /proc (or /sys) into out as a string, without its
 * trailing newline. Returns 0, -ENODATA for an empty file, or -errno; out
 * is "" on failure.
 */
int proc_read_file(const char *path, char *out, size_t outlen);

/*
 * /proc/PID/stat text -> st. The comm is between the first '(' and the
 * last ')', since it may itself contain spaces and parentheses; the fields
 * after it are counted from there. Returns 0, or -EINVAL when the text is
 * not a stat line as far as the start time.
 */
int proc_stat_parse(const char *text, struct proc_stat *st);

/* /proc/PID/stat of pid, parsed. Returns 0 or -errno (-ENOENT: pid is gone). */
int proc_stat_read(pid_t pid, struct proc_stat *st);

/* The process name (/proc/PID/comm); 0 or -errno, out "" on failure. */
int proc_comm(pid_t pid, char *out, size_t outlen);

/* The executable's path (the /proc/PID/exe link, cut to fit); 0 or -errno. */
int proc_exe(pid_t pid, char *out, size_t outlen);

/*
 * The environment block of pid (NUL-separated NAME=VALUE entries, the
 * first 256 KiB at most), NUL-terminated, its length in *len. NULL with
 * errno set when it cannot be read. The caller frees it.
 */
char *proc_environ(pid_t pid, size_t *len);

/* Finds NAME in a NUL-separated NAME=VALUE block (as /proc/PID/environ); NULL if absent. */
const char *environ_find(const char *block, size_t len, const char *name);

/* Copies pid's value of NAME into out, cut to fit; 0, -ENOENT if unset, or -errno. */
int proc_getenv(pid_t pid, const char *name, char *out, size_t outlen);

#endif /* OA_PROC_H */
