// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Targets that come and go while the agent runs (watch.h): the kernel adds
 * forks and processes that match a selector, and drops the ones that exit;
 * this looks at the targets map on every tick of the main loop, says what
 * changed, and adds the children a newly matched process already had.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kernel/loader.h"
#include "log.h"
#include "otel_agent.h"
#include "targets/discover.h"
#include "targets/proc.h"
#include "targets/watch.h"

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static bool pid_in(const pid_t *sorted, size_t n, pid_t pid)
{
	return bsearch(&pid, sorted, n, sizeof(pid), cmp_pid) != NULL;
}

static size_t list_targets(struct loader *bpf, pid_t *out)
{
	int n = loader_list_targets(bpf, out, OA_MAX_TARGETS);

	if (n < 0)
		return 0;
	qsort(out, (size_t)n, sizeof(pid_t), cmp_pid);
	return (size_t)n;
}

/*
 * The kernel adds a process when it forks from a target or matches a
 * selector; the children a process had before it matched (Node cluster
 * workers forked before the primary listens on the --port) are added here.
 */
static size_t adopt_children(struct loader *bpf, const pid_t *parents, size_t nr_parents)
{
	struct match_list kids;
	size_t added = 0;
	char what[256];

	if (discover_descendants(parents, nr_parents, getpid(), &kids))
		return 0;
	for (size_t i = 0; i < kids.n; i++) {
		if (loader_add_target(bpf, kids.v[i].pid) != 1)
			continue;
		added++;
		match_describe(&kids.v[i], what, sizeof(what));
		log_info("%s, added in the kernel: tracing it", what);
	}
	match_list_free(&kids);
	return added;
}

/*
 * Processes the kernel added since the last look that were gone before this
 * one (a short-lived --exe match, a fork that exited at once): traced while
 * they ran, and counted, but never listed; said here so that every process
 * added is in the log. added is the kernel's count read before this look
 * listed the targets, fresh how many new ones it listed (user_added of them
 * added by user space at the last look). A process added between the count
 * and the listing is listed before it is counted: the balance carries it
 * to the next look.
 */
static void say_unseen(struct target_watch *w, __u64 added, size_t fresh)
{
	size_t listed = fresh > w->user_added ? fresh - w->user_added : 0;

	w->unseen += (long long)(added - w->kernel_added) - (long long)listed;
	w->kernel_added = added;
	if (w->unseen <= 0)
		return;
	log_info("%lld process%s added in the kernel (forked by a target, or matching --port, "
		 "--comm or --exe) exited before the agent looked; they were traced while they ran",
		 w->unseen, w->unseen == 1 ? "" : "es");
	w->unseen = 0;
}

static void look(struct target_watch *w, bool report)
{
	__u64 added = w->kernel_added;
	size_t n, nr_fresh = 0;
	char comm[32];
	pid_t *swap;

	loader_event_count(w->bpf, OA_EV_TARGETS_ADDED, &added);
	n = list_targets(w->bpf, w->now);

	for (size_t i = 0; i < n; i++) {
		if (!pid_in(w->known, w->nr_known, w->now[i]))
			w->fresh[nr_fresh++] = w->now[i];
	}
	if (report)
		say_unseen(w, added, nr_fresh);
	else
		w->kernel_added = added;
	w->user_added = 0;
	if (report && nr_fresh) {
		size_t nr_matched = 0;

		for (size_t i = 0; i < nr_fresh; i++) {
			pid_t pid = w->fresh[i];
			struct proc_stat st;

			if (proc_comm(pid, comm, sizeof(comm)))
				snprintf(comm, sizeof(comm), "?");
			if (!proc_stat_read(pid, &st) && pid_in(w->now, n, st.ppid)) {
				log_info("tracing pid %d (%s): forked by pid %d", (int)pid, comm,
					 (int)st.ppid);
				continue;
			}
			log_info("tracing pid %d (%s): added in the kernel (it matched --port, "
				 "--comm or --exe)",
				 (int)pid, comm);
			w->fresh[nr_matched++] = pid;
		}
		/* a fork has no children of its own yet; a process that matched may have */
		if (nr_matched) {
			w->user_added = adopt_children(w->bpf, w->fresh, nr_matched);
			n = list_targets(w->bpf, w->now);
		}
	}
	for (size_t i = 0; report && i < w->nr_known; i++) {
		if (!pid_in(w->now, n, w->known[i]))
			log_debug("pid %d is no longer traced (exited)", (int)w->known[i]);
	}
	swap = w->known;
	w->known = w->now;
	w->now = swap;
	w->nr_known = n;
}

int target_watch_init(struct target_watch *w, struct loader *bpf)
{
	memset(w, 0, sizeof(*w));
	w->bpf = bpf;
	w->known = calloc(OA_MAX_TARGETS, sizeof(pid_t));
	w->now = calloc(OA_MAX_TARGETS, sizeof(pid_t));
	w->fresh = calloc(OA_MAX_TARGETS, sizeof(pid_t));
	if (!w->known || !w->now || !w->fresh) {
		target_watch_free(w);
		return -ENOMEM;
	}
	look(w, false);
	return 0;
}

void target_watch_tick(struct target_watch *w)
{
	look(w, true);
}

void target_watch_free(struct target_watch *w)
{
	if (!w)
		return;
	free(w->known);
	free(w->now);
	free(w->fresh);
	memset(w, 0, sizeof(*w));
}
