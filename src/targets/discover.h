/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Target selection at start: which running processes the selectors
 * (--pid, --port, --comm, --exe) match, and their descendants, from /proc.
 * The kernel (bpf/targets.bpf.c) takes over for processes that appear later.
 */
#ifndef OA_DISCOVER_H
#define OA_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "cli.h"
#include "targets/proc.h"

/* Why a process is traced from the start. */
enum match_kind {
	MATCH_PID,	  /* given with --pid */
	MATCH_PORT,	  /* holds a socket listening on a --port */
	MATCH_COMM,	  /* its name is a --comm */
	MATCH_EXE,	  /* its executable is an --exe */
	MATCH_DESCENDANT, /* a descendant of one of the above */
};

struct match {
	pid_t pid;
	enum match_kind kind;
	pid_t ancestor;	      /* MATCH_DESCENDANT: the matched process it descends from */
	unsigned short port;  /* MATCH_PORT */
	const char *selector; /* MATCH_COMM, MATCH_EXE: the option's value */
	char comm[OA_COMM_LEN];
};

/* Matches in the order found: --pid, --port, --comm, --exe, then descendants. */
struct match_list {
	struct match *v;
	size_t n, cap;
	/* processes whose open files could not be read while a --port's owner was looked for */
	size_t fds_unreadable;
};

/* One process of the /proc table. */
struct proc_info {
	pid_t pid;
	pid_t ppid;
	char comm[OA_COMM_LEN];
};

/*
 * Finds the running processes the selectors match and their descendants,
 * leaving out the agent itself (self). A --pid that does not exist is not
 * an error here. Returns 0 or -errno; out is owned by the caller
 * (match_list_free).
 */
int discover_targets(const struct selectors *sel, pid_t self, struct match_list *out);

/*
 * The descendants running now of processes the kernel added (a --port
 * server whose workers were forked before it listened): MATCH_DESCENDANT
 * entries, roots themselves left out. Returns 0 or -errno.
 */
int discover_descendants(const pid_t *roots, size_t nr_roots, pid_t self, struct match_list *out);

const struct match *match_list_find(const struct match_list *l, pid_t pid);
void match_list_free(struct match_list *l);

/* One line for the log: "pid 12 (node) matches --port 8900", ... (a descendant: "of pid N"). */
void match_describe(const struct match *m, char *out, size_t len);

/* Pure parsers and helpers (unit-tested on strings). */

/*
 * One line of /proc/net/tcp or /proc/net/tcp6 -> local port, state (0x0A is
 * LISTEN) and socket inode. Returns 0, or -EINVAL for the header or a malformed line.
 */
int proc_net_tcp_parse(const char *line, unsigned short *port, unsigned int *state,
		       unsigned long *inode);

/* A /proc/PID/fd symlink target "socket:[12345]" -> 12345; -EINVAL for anything else. */
int socket_link_inode(const char *link, unsigned long *inode);

/* True when comm (as the kernel keeps it, at most 15 characters) is name cut to 15 characters. */
bool comm_matches(const char *comm, const char *name);

/*
 * Descendants of root in a process table, breadth first (children, then
 * grandchildren, ...), root itself excluded. Writes at most max pids;
 * returns how many there are in total.
 */
size_t proc_descendants(const struct proc_info *procs, size_t n, pid_t root, pid_t *out,
			size_t max);

#endif /* OA_DISCOVER_H */
