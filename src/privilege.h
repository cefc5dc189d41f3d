/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Least privilege: what starting needs (checked first, one line when it is
 * missing), and the drop once the BPF side is loaded and attached: to an
 * unprivileged user (--user), the few capabilities serving still needs,
 * no_new_privs, and a seccomp allow-list for every thread. docs/security.md
 * gives the reasons.
 */
#ifndef OA_PRIVILEGE_H
#define OA_PRIVILEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The user the agent serves as (--user). */
struct run_as {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * --user NAME or a numeric uid -> its uid and primary group (a uid that
 * /etc/passwd lacks keeps its own number as gid; so does the default
 * "nobody" on a system without it: 65534). 0 or -ENOENT, said in one line.
 */
int privilege_resolve_user(const char *user, struct run_as *out);

/*
 * Whether this process may load and attach the BPF programs when tracing
 * (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) and switch to user
 * (CAP_SETUID, CAP_SETGID, unless it runs as that user already). 0, or
 * -EPERM with the names of what is missing in missing (" CAP_BPF CAP_PERFMON").
 */
int privilege_check_start(const struct run_as *user, bool tracing, char *missing, size_t len);

struct privilege_plan {
	struct run_as user;
	bool read_targets; /* tracing: reads later targets' /proc/PID/environ and exe */
	bool low_port;	   /* --listen port 1..1023, bound after the drop */
	/*
	 * A map operation on an already open BPF fd, run without CAP_BPF:
	 * -EPERM when this kernel still wants it for that (before 6.5, with
	 * kernel.unprivileged_bpf_disabled set). NULL when nothing is loaded.
	 */
	int (*map_probe)(void *ctx);
	void *probe_ctx;
};

/*
 * The drop, before any other thread starts: groups, gid and uid to
 * plan->user, capabilities down to what the plan needs (and this process
 * had), no_new_privs, then the seccomp allow-list (privilege_seccomp).
 * Logs what it kept. 0 or -errno (said in one line).
 */
int privilege_drop(const struct privilege_plan *plan);

/*
 * The seccomp allow-list alone, on every thread of the process (TSYNC):
 * a syscall not on it fails with EPERM and is logged once (x86-64 and
 * arm64; elsewhere it only fails). Needs no_new_privs or CAP_SYS_ADMIN.
 * 0 or -errno.
 */
int privilege_seccomp(void);

#endif /* OA_PRIVILEGE_H */
