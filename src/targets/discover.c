// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Target selection at start, from /proc: the processes --pid, --port,
 * --comm and --exe match when the agent starts, and their descendants.
 * Processes that appear later are added by the kernel (bpf/targets.bpf.c).
 *
 * --port reads the LISTEN sockets of /proc/net/tcp and /proc/net/tcp6 (of
 * the agent's network namespace) and finds the processes holding them
 * through their /proc/PID/fd symlinks ("socket:[INODE]").
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "array.h"
#include "targets/discover.h"
#include "log.h"

#define TCP_LISTEN_STATE 0x0A

/* A listening socket on one of the --port ports. */
struct listen_sock {
	unsigned long inode;
	unsigned short port;
};

struct listen_socks {
	struct listen_sock *v;
	size_t n, cap;
};

/* Room for element n of *v (array_grow, starting at 16); -ENOMEM leaves *v as it was. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *p = array_grow(*v, cap, n, size, 16);

	if (!p)
		return -ENOMEM;
	*v = p;
	return 0;
}

/* "0100007F:1F90" or a 32-digit IPv6 address and ":PORT" -> the port (hex). */
static int parse_local_port(const char *addr, unsigned short *port)
{
	const char *colon = strrchr(addr, ':');
	unsigned long v;
	char *end;

	if (!colon || !isxdigit((unsigned char)colon[1]))
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 16);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = (unsigned short)v;
	return 0;
}

int proc_net_tcp_parse(const char *line, unsigned short *port, unsigned int *state,
		       unsigned long *inode)
{
	unsigned long ino;
	unsigned int st;
	char local[64];

	/* sl: local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode */
	if (sscanf(line, " %*u: %63s %*s %x %*x:%*x %*x:%*x %*x %*u %*u %lu", local, &st, &ino) !=
	    3)
		return -EINVAL;
	if (parse_local_port(local, port))
		return -EINVAL;
	*state = st;
	*inode = ino;
	return 0;
}

int socket_link_inode(const char *link, unsigned long *inode)
{
	static const char prefix[] = "socket:[";
	const char *digits = link + sizeof(prefix) - 1;
	unsigned long v;
	char *end;

	if (strncmp(link, prefix, sizeof(prefix) - 1) || !isdigit((unsigned char)*digits))
		return -EINVAL;
	errno = 0;
	v = strtoul(digits, &end, 10);
	if (errno || end[0] != ']' || end[1])
		return -EINVAL;
	*inode = v;
	return 0;
}

bool comm_matches(const char *comm, const char *name)
{
	return !strncmp(comm, name, OA_COMM_LEN - 1);
}

size_t proc_descendants(const struct proc_info *procs, size_t n, pid_t root, pid_t *out, size_t max)
{
	pid_t *queue = malloc((n + 1) * sizeof(*queue));
	bool *seen = calloc(n + 1, sizeof(*seen));
	size_t head = 0, tail = 0, found = 0;

	if (!queue || !seen)
		goto cleanup;
	queue[tail++] = root;
	while (head < tail) {
		pid_t parent = queue[head++];

		for (size_t i = 0; i < n; i++) {
			if (seen[i] || procs[i].ppid != parent || procs[i].pid == root)
				continue;
			seen[i] = true;
			queue[tail++] = procs[i].pid;
			if (found < max)
				out[found] = procs[i].pid;
			found++;
		}
	}
cleanup:
	free(queue);
	free(seen);
	return found;
}

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

/* Every process (thread group) /proc lists, kernel threads left out. */
static int read_proc_table(struct proc_info **out, size_t *nr)
{
	struct proc_info *procs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir) {
		int err = -errno;

		log_error("cannot list /proc: %s", strerror(errno));
		return err;
	}
	while ((de = readdir(dir))) {
		struct proc_stat st;
		struct proc_info p;

		if (!is_pid_name(de->d_name))
			continue;
		p.pid = (pid_t)atoi(de->d_name);
		if (proc_stat_read(p.pid, &st))
			continue; /* exited meanwhile */
		p.ppid = st.ppid;
		memcpy(p.comm, st.comm, sizeof(p.comm));
		if (p.pid == 2 || p.ppid == 2)
			continue; /* kthreadd and kernel threads: no syscalls to trace */
		if (grow((void **)&procs, &cap, n, sizeof(*procs))) {
			closedir(dir);
			free(procs);
			return -ENOMEM;
		}
		procs[n++] = p;
	}
	closedir(dir);
	*out = procs;
	*nr = n;
	return 0;
}

static const struct proc_info *proc_find(const struct proc_info *procs, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++) {
		if (procs[i].pid == pid)
			return &procs[i];
	}
	return NULL;
}

const struct match *match_list_find(const struct match_list *l, pid_t pid)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].pid == pid)
			return &l->v[i];
	}
	return NULL;
}

void match_list_free(struct match_list *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Adds m unless its pid is already there (the first reason found is kept). */
static int match_add(struct match_list *l, const struct match *m)
{
	if (match_list_find(l, m->pid))
		return 0;
	if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = *m;
	return 0;
}

static void match_init(struct match *m, const struct proc_info *p, pid_t pid, enum match_kind kind)
{
	memset(m, 0, sizeof(*m));
	m->pid = pid;
	m->kind = kind;
	snprintf(m->comm, sizeof(m->comm), "%s", p ? p->comm : "?");
}

/* The LISTEN sockets of /proc/net/tcp{,6} on a --port. */
static int read_listen_socks(const struct selectors *sel, struct listen_socks *out)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		FILE *in = fopen(files[f], "re");
		char line[512];

		if (!in) {
			log_debug("cannot read %s: %s", files[f], strerror(errno));
			continue; /* no IPv6, for instance */
		}
		while (fgets(line, sizeof(line), in)) {
			unsigned short port;
			unsigned int state;
			unsigned long inode;

			if (proc_net_tcp_parse(line, &port, &state, &inode) ||
			    state != TCP_LISTEN_STATE || !inode)
				continue;
			for (size_t i = 0; i < sel->nr_ports; i++) {
				if (sel->ports[i] != port)
					continue;
				if (grow((void **)&out->v, &out->cap, out->n, sizeof(*out->v))) {
					fclose(in);
					return -ENOMEM;
				}
				out->v[out->n].inode = inode;
				out->v[out->n].port = port;
				out->n++;
				break;
			}
		}
		fclose(in);
	}
	return 0;
}

/*
 * The --port a process serves (holds one of socks), or 0; *denied is set
 * when its open files could not be read (another user's, without the
 * privilege), so that it may be the owner nobody found.
 */
static unsigned short proc_listen_port(pid_t pid, const struct listen_socks *socks, bool *denied)
{
	char dirpath[64], path[320], link[64];
	unsigned short port = 0;
	struct dirent *de;
	DIR *dir;

	snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int)pid);
	dir = opendir(dirpath);
	*denied = !dir && (errno == EACCES || errno == EPERM);
	if (!dir)
		return 0;
	while (!port && (de = readdir(dir))) {
		unsigned long inode;
		ssize_t n;

		if (!is_pid_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (socket_link_inode(link, &inode))
			continue;
		for (size_t i = 0; i < socks->n; i++) {
			if (socks->v[i].inode == inode) {
				port = socks->v[i].port;
				break;
			}
		}
	}
	closedir(dir);
	return port;
}

/* The --exe a process runs (as given or its resolved path), or NULL. */
static const char *proc_exe_match(pid_t pid, const struct selectors *sel, char (*real)[PATH_MAX])
{
	char exe[PATH_MAX];

	if (proc_exe(pid, exe, sizeof(exe)))
		return NULL;
	for (size_t i = 0; i < sel->nr_exes; i++) {
		if (!strcmp(exe, sel->exes[i]) || (real[i][0] && !strcmp(exe, real[i])))
			return sel->exes[i];
	}
	return NULL;
}

/* Whether every listened --port socket has its owner in out. */
static bool every_port_owned(const struct listen_socks *socks, const struct match_list *out)
{
	for (size_t i = 0; i < socks->n; i++) {
		bool owned = false;

		for (size_t j = 0; j < out->n && !owned; j++)
			owned = out->v[j].kind == MATCH_PORT && out->v[j].port == socks->v[i].port;
		if (!owned)
			return false;
	}
	return true;
}

static int match_selectors(const struct selectors *sel, pid_t self, const struct proc_info *procs,
			   size_t n, struct match_list *out)
{
	struct listen_socks socks = { 0 };
	char(*real)[PATH_MAX] = NULL;
	struct match m;
	int err = 0;

	for (size_t i = 0; i < sel->nr_pids; i++) {
		const struct proc_info *p = proc_find(procs, n, sel->pids[i]);

		match_init(&m, p, sel->pids[i], MATCH_PID);
		err = match_add(out, &m);
		if (err)
			goto cleanup;
	}
	if (sel->nr_ports) {
		err = read_listen_socks(sel, &socks);
		if (err)
			goto cleanup;
	}
	if (sel->nr_exes) {
		real = calloc(sel->nr_exes, sizeof(*real));
		if (!real) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (size_t i = 0; i < sel->nr_exes; i++) {
			if (!realpath(sel->exes[i], real[i]))
				real[i][0] = '\0'; /* not there yet: matched as given */
		}
	}
	/* one pass per kind, so the order of the list is --port, --comm, --exe */
	for (int kind = MATCH_PORT; kind <= MATCH_EXE; kind++) {
		for (size_t i = 0; i < n; i++) {
			const struct proc_info *p = &procs[i];

			if (p->pid == self || (kind == MATCH_PORT && !socks.n) ||
			    (kind == MATCH_COMM && !sel->nr_comms) ||
			    (kind == MATCH_EXE && !sel->nr_exes))
				continue;
			match_init(&m, p, p->pid, (enum match_kind)kind);
			if (kind == MATCH_PORT) {
				bool denied;

				m.port = proc_listen_port(p->pid, &socks, &denied);
				out->fds_unreadable += denied;
			}
			if (kind == MATCH_COMM) {
				for (size_t c = 0; c < sel->nr_comms && !m.selector; c++) {
					if (comm_matches(p->comm, sel->comms[c]))
						m.selector = sel->comms[c];
				}
			}
			if (kind == MATCH_EXE)
				m.selector = proc_exe_match(p->pid, sel, real);
			if (!m.port && !m.selector)
				continue;
			err = match_add(out, &m);
			if (err)
				goto cleanup;
		}
	}
	/* unreadable open files matter only while a listened --port has no owner found */
	if (every_port_owned(&socks, out))
		out->fds_unreadable = 0;
cleanup:
	free(socks.v);
	free(real);
	return err;
}

/* Appends the descendants of roots[0..nr_roots) to out, skipping pids out already has. */
static int add_descendants(const struct proc_info *procs, size_t n, const pid_t *roots,
			   size_t nr_roots, pid_t self, struct match_list *out)
{
	pid_t *kids;
	int err = 0;

	kids = malloc((n + 1) * sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	for (size_t r = 0; r < nr_roots && !err; r++) {
		size_t nr_kids = proc_descendants(procs, n, roots[r], kids, n);

		for (size_t k = 0; k < nr_kids && k < n && !err; k++) {
			struct match m;

			if (kids[k] == self)
				continue;
			match_init(&m, proc_find(procs, n, kids[k]), kids[k], MATCH_DESCENDANT);
			m.ancestor = roots[r];
			err = match_add(out, &m);
		}
	}
	free(kids);
	return err;
}

static int add_descendants_of_matches(const struct proc_info *procs, size_t n, pid_t self,
				      struct match_list *out)
{
	size_t nr_roots = out->n;
	pid_t *roots;
	int err;

	roots = malloc((nr_roots + 1) * sizeof(*roots));
	if (!roots)
		return -ENOMEM;
	for (size_t i = 0; i < nr_roots; i++)
		roots[i] = out->v[i].pid;
	err = add_descendants(procs, n, roots, nr_roots, self, out);
	free(roots);
	return err;
}

int discover_descendants(const pid_t *roots, size_t nr_roots, pid_t self, struct match_list *out)
{
	struct proc_info *procs = NULL;
	struct match_list skip = { 0 };
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = read_proc_table(&procs, &n);
	if (err)
		return err;
	/* the roots go first so that none of them is listed as another's descendant */
	for (size_t i = 0; i < nr_roots && !err; i++) {
		struct match m;

		match_init(&m, NULL, roots[i], MATCH_PID);
		err = match_add(&skip, &m);
	}
	if (!err)
		err = add_descendants(procs, n, roots, nr_roots, self, &skip);
	for (size_t i = nr_roots; i < skip.n && !err; i++)
		err = match_add(out, &skip.v[i]);
	free(procs);
	match_list_free(&skip);
	if (err)
		match_list_free(out);
	return err;
}

int discover_targets(const struct selectors *sel, pid_t self, struct match_list *out)
{
	struct proc_info *procs = NULL;
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = read_proc_table(&procs, &n);
	if (!err)
		err = match_selectors(sel, self, procs, n, out);
	if (!err)
		err = add_descendants_of_matches(procs, n, self, out);
	free(procs);
	if (err) {
		log_error("cannot list the target processes in /proc: %s", strerror(-err));
		match_list_free(out);
	}
	return err;
}

void match_describe(const struct match *m, char *out, size_t len)
{
	switch (m->kind) {
	case MATCH_PID:
		snprintf(out, len, "pid %d (%s) given with --pid", (int)m->pid, m->comm);
		break;
	case MATCH_PORT:
		snprintf(out, len, "pid %d (%s) matches --port %u", (int)m->pid, m->comm,
			 (unsigned int)m->port);
		break;
	case MATCH_COMM:
		snprintf(out, len, "pid %d (%s) matches --comm %s", (int)m->pid, m->comm,
			 m->selector);
		break;
	case MATCH_EXE:
		snprintf(out, len, "pid %d (%s) matches --exe %s", (int)m->pid, m->comm,
			 m->selector);
		break;
	case MATCH_DESCENDANT:
		snprintf(out, len, "pid %d (%s) is a descendant of pid %d", (int)m->pid, m->comm,
			 (int)m->ancestor);
		break;
	}
}
