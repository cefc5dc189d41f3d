// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otel-agent entry point: parse options, find the target processes running
 * at start, decide the FEATURE_OTEL flag, load and attach the BPF side when
 * enabled, serve the endpoints, and until SIGINT/SIGTERM: report targets
 * that come and go, reclaim state of exited processes; then detach.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "metrics/aggregate.h"
#include "kernel/loader.h"
#include "metrics/buckets.h"
#include "cli.h"
#include "config.h"
#include "targets/discover.h"
#include "feature_flag.h"
#include "server/http_server.h"
#include "log.h"
#include "kernel/reclaim.h"
#include "expose/render.h"
#include "targets/targets.h"

#include "version.h" /* OA_VERSION, written by the Makefile */

/* The targets map holds at most this many processes (bpf/targets.bpf.h). */
#define MAX_TARGETS 4096
/* How often the main thread looks at the targets; state of exited processes is reclaimed every 5 s. */
#define TICK_MS		    250
#define RECLAIM_EVERY_TICKS (5000 / TICK_MS)

struct agent {
	struct loader bpf;
	struct oa_config cfg;
	struct aggregator agg; /* what was admitted under the series cap, across scrapes */
	char host_name[256];
};

/* One scrape: maps -> snapshot -> the endpoint's text (in fmt for /metrics/otel). */
static int render_endpoint(void *ctx, enum oa_endpoint ep, enum oa_format fmt, FILE *out)
{
	struct agent *agent = ctx;
	struct oa_snapshot snap;
	int err;

	err = aggregate_snapshot(&agent->agg, &agent->bpf, &snap);
	if (err)
		return err;
	snap.host_name = agent->host_name;
	snap.version = OA_VERSION;
	/* NULL when memory is short: target_info then has pid and service_name only */
	snap.resources = target_resources(snap.targets, snap.nr_targets);
	err = ep == EP_OTEL ? render_otel_as(&snap, fmt, out) : render_plugin(&snap, out);
	snapshot_free(&snap);
	return err;
}

/*
 * The option, else the agent's FEATURE_OTEL, else that of the first target
 * found at start that sets it. With no target running yet there is no
 * target environment to read.
 */
static struct flag_decision decide_flag(const struct options *opts, const struct match_list *found,
					char *target_value, size_t len)
{
	target_value[0] = '\0';
	for (size_t i = 0; i < found->n; i++) {
		if (!target_getenv(found->v[i].pid, "FEATURE_OTEL", target_value, len) &&
		    target_value[0])
			break;
	}
	if (!found->n)
		log_info("no target process is running yet, so its FEATURE_OTEL cannot be read; "
			 "the flag comes from --feature-otel or the agent's FEATURE_OTEL "
			 "(default: disabled)");
	return flag_resolve(opts->feature_otel, getenv("FEATURE_OTEL"), target_value);
}

static bool matched(const struct match_list *found, enum match_kind kind, unsigned short port,
		    const char *selector)
{
	for (size_t i = 0; i < found->n; i++) {
		const struct match *m = &found->v[i];

		if (m->kind == kind && m->port == port && m->selector == selector)
			return true;
	}
	return false;
}

/* " --port 8900 --comm core": the selectors nothing matches yet. */
static void describe_waiting(const struct selectors *sel, const struct match_list *found, char *out,
			     size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sel->nr_ports && off < len; i++) {
		if (!matched(found, MATCH_PORT, sel->ports[i], NULL))
			off += snprintf(out + off, len - off, " --port %u",
					(unsigned int)sel->ports[i]);
	}
	for (size_t i = 0; i < sel->nr_comms && off < len; i++) {
		if (!matched(found, MATCH_COMM, 0, sel->comms[i]))
			off += snprintf(out + off, len - off, " --comm %s", sel->comms[i]);
	}
	for (size_t i = 0; i < sel->nr_exes && off < len; i++) {
		if (!matched(found, MATCH_EXE, 0, sel->exes[i]))
			off += snprintf(out + off, len - off, " --exe %s", sel->exes[i]);
	}
}

/*
 * Adds the processes running at start to the targets map. A second look
 * after attaching catches what started between the first one and the
 * attach; from then on the kernel adds them.
 */
static void add_running(struct agent *agent, const struct selectors *sel, struct match_list *found)
{
	struct match_list again;
	char what[512];

	if (!discover_targets(sel, getpid(), &again)) {
		match_list_free(found);
		*found = again;
	}
	for (size_t i = 0; i < found->n; i++) {
		const struct match *m = &found->v[i];

		if (loader_add_target(&agent->bpf, m->pid) < 0)
			continue; /* said why; the others are still worth tracing */
		if (m->kind == MATCH_PID) {
			log_info("tracing pid %d (%s) and its descendants", (int)m->pid, m->comm);
			continue;
		}
		match_describe(m, what, sizeof(what));
		log_info("%s: tracing it%s", what,
			 m->kind == MATCH_DESCENDANT ? "" : " and its descendants");
	}
	describe_waiting(sel, found, what, sizeof(what));
	if (what[0])
		log_info("no process matches%s yet; waiting for matching processes: they are "
			 "traced as they start",
			 what);
}

/* The targets map as a sorted list, to tell which processes came and went since the last look. */
struct target_watch {
	pid_t *known;
	size_t nr_known;
	pid_t *now;
	pid_t *fresh;
};

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static bool pid_in(const pid_t *sorted, size_t n, pid_t pid)
{
	return bsearch(&pid, sorted, n, sizeof(pid), cmp_pid) != NULL;
}

static size_t list_targets(struct agent *agent, pid_t *out)
{
	int n = loader_list_targets(&agent->bpf, out, MAX_TARGETS);

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
static void adopt_children(struct agent *agent, const pid_t *parents, size_t nr_parents)
{
	struct match_list kids;
	char what[256];

	if (discover_descendants(parents, nr_parents, getpid(), &kids))
		return;
	for (size_t i = 0; i < kids.n; i++) {
		if (loader_add_target(&agent->bpf, kids.v[i].pid) != 1)
			continue;
		match_describe(&kids.v[i], what, sizeof(what));
		log_info("%s, added in the kernel: tracing it", what);
	}
	match_list_free(&kids);
}

static void watch_targets(struct agent *agent, struct target_watch *w, bool report)
{
	size_t n = list_targets(agent, w->now), nr_fresh = 0;
	char comm[32];
	pid_t *swap;

	for (size_t i = 0; i < n; i++) {
		if (!pid_in(w->known, w->nr_known, w->now[i]))
			w->fresh[nr_fresh++] = w->now[i];
	}
	if (report && nr_fresh) {
		size_t nr_matched = 0;

		for (size_t i = 0; i < nr_fresh; i++) {
			pid_t pid = w->fresh[i], ppid = 0;

			if (target_comm(pid, comm, sizeof(comm)))
				snprintf(comm, sizeof(comm), "?");
			if (!proc_ppid(pid, &ppid) && pid_in(w->now, n, ppid)) {
				log_info("tracing pid %d (%s): forked by pid %d", (int)pid, comm,
					 (int)ppid);
				continue;
			}
			log_info("tracing pid %d (%s): added in the kernel (it matched --port, "
				 "--comm or --exe)",
				 (int)pid, comm);
			w->fresh[nr_matched++] = pid;
		}
		/* a fork has no children of its own yet; a process that matched may have */
		if (nr_matched) {
			adopt_children(agent, w->fresh, nr_matched);
			n = list_targets(agent, w->now);
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

static void wait_for_signal(struct agent *agent, const struct options *opts, bool enabled)
{
	struct timespec tick = { .tv_nsec = TICK_MS * 1000000L };
	struct target_watch watch = { 0 };
	bool gone[OA_MAX_PIDS] = { false };
	unsigned long ticks = 0;
	sigset_t set;

	if (enabled) {
		watch.known = calloc(MAX_TARGETS, sizeof(pid_t));
		watch.now = calloc(MAX_TARGETS, sizeof(pid_t));
		watch.fresh = calloc(MAX_TARGETS, sizeof(pid_t));
		if (!watch.known || !watch.now || !watch.fresh)
			enabled = false; /* no reports; the kernel keeps tracking regardless */
		else
			watch_targets(agent, &watch, false);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGINT || sig == SIGTERM) {
			log_info("%s received; detaching", strsignal(sig));
			break;
		}
		for (size_t i = 0; i < opts->sel.nr_pids; i++) {
			if (!gone[i] && !target_exists(opts->sel.pids[i])) {
				gone[i] = true;
				log_info("target pid %d exited; still serving what it counted",
					 opts->sel.pids[i]);
			}
		}
		if (!enabled)
			continue;
		watch_targets(agent, &watch, true);
		if (++ticks % RECLAIM_EVERY_TICKS == 0) {
			int n = reclaim_stale(&agent->bpf);

			if (n > 0)
				log_debug("reclaimed %d map entries of exited processes", n);
		}
	}
	free(watch.known);
	free(watch.now);
	free(watch.fresh);
}

int main(int argc, char **argv)
{
	struct agent agent = { 0 };
	struct http_server *srv = NULL;
	struct http_server_opts serve;
	struct match_list found = { 0 };
	struct options opts;
	struct flag_decision flag = { 0 };
	char target_flag[64], note[256];
	double bounds[OA_MAX_BOUNDS];
	int nr_bounds;
	sigset_t set;
	int ret = 1;

	switch (cli_parse(argc, argv, &opts)) {
	case CLI_OK:
		break;
	case CLI_EXIT_OK:
		return 0;
	case CLI_USAGE_ERROR:
		return 2;
	}
	log_set_verbose(opts.verbose);
	/* A bad config file or option combination is a usage error, whatever the flag. */
	if (config_build(&opts.exp, &agent.cfg))
		return 2;
	if (config_apply_buckets(&agent.cfg) ||
	    aggregator_init(&agent.agg, &agent.cfg.rules, agent.cfg.max_series_per_target)) {
		log_error("cannot set up the configuration: out of memory");
		goto cleanup;
	}
	log_debug("%zu route templates, %zu ignore patterns, at most %u series per target; "
		  "%u /metrics/otel and %u /metrics bucket bounds",
		  agent.cfg.nr_routes, agent.cfg.nr_ignores, agent.cfg.max_series_per_target,
		  buckets_otel.nr, buckets_plugin.nr);
	for (size_t i = 0; i < opts.sel.nr_pids; i++) {
		if (!target_exists(opts.sel.pids[i])) {
			log_error("no process with pid %d", opts.sel.pids[i]);
			goto cleanup;
		}
	}
	if (gethostname(agent.host_name, sizeof(agent.host_name) - 1))
		snprintf(agent.host_name, sizeof(agent.host_name), "unknown");

	/* Block before any thread starts, so only sigtimedwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (discover_targets(&opts.sel, getpid(), &found))
		goto cleanup;
	flag = decide_flag(&opts, &found, target_flag, sizeof(target_flag));
	if (flag.enabled) {
		nr_bounds = buckets_union(&buckets_otel, &buckets_plugin, bounds, OA_MAX_BOUNDS);
		if (nr_bounds < 0 || loader_preflight() ||
		    loader_start(&agent.bpf, &opts.limits, bounds, (unsigned int)nr_bounds,
				 &opts.sel))
			goto cleanup;
		add_running(&agent, &opts.sel, &found);
		note[0] = '\0';
	} else {
		snprintf(note, sizeof(note), "FEATURE_OTEL is not enabled (%s); nothing is loaded",
			 flag_source_name(flag.source));
		log_info("%s; to publish metrics start the target with FEATURE_OTEL=true or pass "
			 "--feature-otel=true",
			 note);
	}
	serve = (struct http_server_opts){ .listen = opts.listen,
					   .enabled = flag.enabled,
					   .health_note = note,
					   .conn_timeout_s = HTTP_CONNECTION_TIMEOUT_S };
	srv = http_server_serve(&serve, render_endpoint, &agent);
	if (!srv)
		goto cleanup;
	if (flag.enabled)
		log_info("serving http://%s/metrics/otel and http://%s/metrics (flag from %s)",
			 opts.listen, opts.listen, flag_source_name(flag.source));
	else
		log_info("serving http://%s/healthz only", opts.listen);
	wait_for_signal(&agent, &opts, flag.enabled);
	ret = 0;
cleanup:
	http_server_stop(srv);
	loader_stop(&agent.bpf);
	match_list_free(&found);
	aggregator_free(&agent.agg);
	config_free(&agent.cfg);
	if (!ret && flag.enabled)
		log_info("detached");
	return ret;
}
