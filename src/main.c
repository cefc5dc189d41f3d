// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otel-agent entry point: parse options, find the target processes running
 * at start, decide the FEATURE_OTEL flag, load and attach the BPF side when
 * enabled, drop to an unprivileged user (privilege.c), serve the
 * endpoints, and until SIGINT/SIGTERM/SIGQUIT: report
 * targets that come and go, reclaim state of exited processes; then detach.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "metrics/aggregate.h"
#include "kernel/loader.h"
#include "metrics/buckets.h"
#include "array.h"
#include "cli.h"
#include "config.h"
#include "targets/discover.h"
#include "feature_flag.h"
#include "server/http_server.h"
#include "log.h"
#include "privilege.h"
#include "top/run.h"
#include "kernel/reclaim.h"
#include "expose/render.h"
#include "targets/proc.h"
#include "targets/resource.h"
#include "targets/watch.h"
#include "otel_agent.h"

#include "version.h" /* OA_VERSION, written by the Makefile */

/* How often the main thread looks at the targets; kernel state is reclaimed every 5 s (reclaim). */
#define TICK_MS		    250
#define RECLAIM_EVERY_TICKS (5000 / TICK_MS)

struct agent {
	struct loader bpf;
	struct oa_config cfg;
	struct aggregator agg; /* what was admitted under the series cap, across scrapes */
	struct resource_cache resources; /* the targets' resources, kept while they live */
	char host_name[256];
	char flag_note[192]; /* why the flag is off when the cause is not its source */
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
	snap.body_sizes = agent->cfg.body_sizes;
	snap.version = OA_VERSION;
	snap.programs = agent->bpf.compat ? "compat" : "current";
	/* the scrape's one read of the targets' resources: target_info and service names */
	resources_read(&agent->resources, &snap);
	err = ep == EP_OTEL ? render_otel_as(&snap, fmt, out) : render_plugin(&snap, out);
	snapshot_free(&snap);
	return err;
}

/*
 * The option, else the agent's FEATURE_OTEL, else that of the first target
 * found at start that sets it. With no target running yet there is no
 * target environment to read. When the flag ends up unset because an
 * environment could not be read, agent->flag_note says so: "unset" would
 * send the operator after the wrong cause.
 */
static struct flag_decision decide_flag(struct agent *agent, const struct options *opts,
					const struct match_list *found, char *target_value,
					size_t len)
{
	struct flag_decision flag;
	pid_t denied = 0;
	int denied_err = 0;

	target_value[0] = '\0';
	for (size_t i = 0; i < found->n; i++) {
		int err = proc_getenv(found->v[i].pid, "FEATURE_OTEL", target_value, len);

		if (!err && target_value[0])
			break;
		if ((err == -EACCES || err == -EPERM) && !denied) {
			denied = found->v[i].pid;
			denied_err = -err;
		}
	}
	flag = flag_resolve(opts->feature_otel, getenv("FEATURE_OTEL"), target_value);
	if (found->fds_unreadable)
		log_info("warning: a --port is listened on by no process the agent could see: the "
			 "open files of %zu processes could not be read (/proc/PID/fd: permission "
			 "denied), and the one serving it may be among them; the agent needs root "
			 "(CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) to find it before it accepts a "
			 "connection",
			 found->fds_unreadable);
	/* only when the target's environment would have decided: else it reads as "off" */
	if (!found->n && flag.source == FLAG_FROM_DEFAULT)
		log_info("%s, so its FEATURE_OTEL cannot be read; the flag comes from "
			 "--feature-otel or the agent's FEATURE_OTEL (default: disabled)",
			 found->fds_unreadable ? "no target process was found"
					       : "no target process is running yet");
	if (denied && flag.source == FLAG_FROM_DEFAULT) {
		snprintf(agent->flag_note, sizeof(agent->flag_note),
			 "the target's FEATURE_OTEL cannot be read: /proc/%d/environ: %s",
			 (int)denied, strerror(denied_err));
		log_error("%s; the agent needs root (CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE to "
			  "read another user's environment, and the capabilities the README lists "
			  "to trace)",
			  agent->flag_note);
	}
	return flag;
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

/*
 * The signals the main thread takes with sigtimedwait. They are blocked in
 * every thread before the first one starts, so none of them has a default
 * action left that would kill the agent without a word.
 */
static void agent_signals(sigset_t *set)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };

	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(set, sigs[i]);
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGQUIT:
		return "SIGQUIT";
	case SIGHUP:
		return "SIGHUP";
	case SIGUSR1:
		return "SIGUSR1";
	case SIGUSR2:
		return "SIGUSR2";
	}
	return "a signal";
}

/* Says what a signal does; true when it ends the agent. */
static bool take_signal(int sig)
{
	switch (sig) {
	case SIGINT:
	case SIGTERM:
	case SIGQUIT:
		log_info("%s received; detaching", signal_name(sig));
		return true;
	case SIGHUP:
		/*
		 * The render thread reads the routes, ignores and cap while it
		 * renders; swapping them under it would need a lock on every
		 * scrape, for an operation a restart does as well.
		 */
		log_info("SIGHUP received: reloading the configuration is not supported; "
			 "restart the agent to apply a changed --config; still running");
		return false;
	}
	log_info("%s received; ignored", signal_name(sig));
	return false;
}

/*
 * Every few seconds, scraped or not: the kernel state of exited processes
 * goes (connections, requests, series), and idle folded series leave the
 * series map (aggregate_snapshot retires them), so that it holds what is
 * still being counted.
 */
static void reclaim(struct agent *agent)
{
	struct oa_snapshot snap;
	int n = reclaim_stale(&agent->bpf);

	if (n > 0)
		log_debug("reclaimed %d map entries of exited processes", n);
	if (aggregate_snapshot(&agent->agg, &agent->bpf, &snap))
		log_debug("retiring kernel series failed");
	else
		snapshot_free(&snap);
}

static void wait_for_signal(struct agent *agent, const struct options *opts, bool enabled)
{
	struct timespec tick = { .tv_nsec = TICK_MS * 1000000L };
	struct target_watch watch = { 0 };
	bool gone[OA_MAX_PIDS] = { false };
	unsigned long ticks = 0;
	sigset_t set;

	/* without memory for the watch there are no reports; the kernel keeps tracking regardless */
	if (enabled && target_watch_init(&watch, &agent->bpf))
		enabled = false;
	agent_signals(&set);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig > 0 && take_signal(sig))
			break;
		for (size_t i = 0; i < opts->sel.nr_pids; i++) {
			if (!gone[i] && !proc_exists(opts->sel.pids[i])) {
				gone[i] = true;
				log_info("target pid %d exited; still serving what it counted",
					 opts->sel.pids[i]);
			}
		}
		if (!enabled)
			continue;
		target_watch_tick(&watch);
		if (++ticks % RECLAIM_EVERY_TICKS == 0)
			reclaim(agent);
	}
	target_watch_free(&watch);
}

/* kthreadd: pid 2 of the first pid namespace, the one process whose parent there is 0. */
static bool is_kthreadd(pid_t pid)
{
	struct proc_stat st;

	return pid == 2 && !proc_stat_read(pid, &st) && st.ppid == 0;
}

/*
 * A kernel thread: kthreadd or one of its children, or a task with no
 * executable and an empty command line. It makes no socket syscalls.
 */
static bool is_kernel_thread(pid_t pid)
{
	struct proc_stat st;
	char path[64], exe[8], cmdline[8];

	if (is_kthreadd(pid) || (!proc_stat_read(pid, &st) && is_kthreadd(st.ppid)))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	return proc_exe(pid, exe, sizeof(exe)) == -ENOENT &&
	       proc_read_file(path, cmdline, sizeof(cmdline)) == -ENODATA;
}

/*
 * The --pid processes must exist (1) and not be kernel threads (2); --pid 1
 * is allowed, since in a container it is often the server, with a warning.
 * Returns 0 or the exit code.
 */
static int check_pids(const struct selectors *sel)
{
	char comm[OA_COMM_LEN];

	for (size_t i = 0; i < sel->nr_pids; i++) {
		pid_t pid = sel->pids[i];

		if (!proc_exists(pid)) {
			log_error("no process with pid %d", pid);
			return 1;
		}
		proc_comm(pid, comm, sizeof(comm));
		if (is_kernel_thread(pid)) {
			log_error(
				"--pid %d (%s) is a kernel thread: it makes no socket syscalls to "
				"trace; give the pid of the server process",
				pid, comm);
			return 2;
		}
		if (pid == 1)
			log_info("warning: --pid 1 (%s) is the init process: its descendants are "
				 "every process of its pid namespace, and all of them are traced",
				 comm);
	}
	return 0;
}

/*
 * What does not depend on the flag: the configuration (a bad one is a
 * usage error whatever the flag: 2), the aggregator, the --pid processes
 * (check_pids). Returns 0 or the exit code.
 */
static int set_up(struct agent *agent, const struct options *opts)
{
	int ret;

	if (config_build(&opts->exp, &agent->cfg))
		return 2;
	if (config_apply_buckets(&agent->cfg) ||
	    aggregator_init(&agent->agg, &agent->cfg.rules, agent->cfg.max_series_per_target,
			    opts->limits.max_series)) {
		log_error("cannot set up the configuration: out of memory");
		return 1;
	}
	resource_cache_init(&agent->resources);
	log_debug("%zu route templates, %zu ignore patterns, at most %u series per target; "
		  "%u /metrics/otel and %u /metrics bucket bounds",
		  agent->cfg.nr_routes, agent->cfg.nr_ignores, agent->cfg.max_series_per_target,
		  buckets_otel.nr, buckets_plugin.nr);
	ret = check_pids(&opts->sel);
	if (ret)
		return ret;
	if (gethostname(agent->host_name, sizeof(agent->host_name) - 1))
		snprintf(agent->host_name, sizeof(agent->host_name), "unknown");
	return 0;
}

/* Loads and attaches the BPF side over the union of both endpoints' bounds; 0 or -errno. */
static int start_tracing(struct agent *agent, const struct options *opts, struct match_list *found)
{
	struct map_limits limits = opts->limits;
	double bounds[OA_MAX_BOUNDS];
	int nr_bounds, err;
	bool compat;

	/* the export cap is also what the kernel holds per target */
	limits.series_per_target = agent->cfg.max_series_per_target;
	limits.body_sizes = agent->cfg.body_sizes;
	nr_bounds = buckets_union(&buckets_otel, &buckets_plugin, bounds, OA_MAX_BOUNDS);
	if (nr_bounds < 0)
		return nr_bounds;
	err = loader_preflight(&compat);
	if (!err)
		err = loader_start(&agent->bpf, &limits, bounds, (unsigned int)nr_bounds,
				   &opts->sel, compat);
	if (!err)
		add_running(agent, &opts->sel, found);
	return err;
}

/*
 * Before the targets' environments are read: an agent that may have to
 * trace but cannot load BPF programs (or switch to --user) says so in one
 * line, instead of a FEATURE_OTEL it could not read. Nothing is checked
 * when the option or the agent's environment already disabled publishing.
 * Returns 0 or the exit code.
 */
static int check_privilege(const struct options *opts, struct run_as *user)
{
	struct flag_decision early = flag_resolve(opts->feature_otel, getenv("FEATURE_OTEL"), NULL);
	bool tracing = opts->top.enabled || early.enabled || early.source == FLAG_FROM_DEFAULT;
	char missing[128];

	if (!privilege_check_start(user, tracing, missing, sizeof(missing)))
		return 0;
	if (!opts->user_given && !tracing) {
		/* nothing to load and no right to switch: it serves as who started it */
		user->uid = getuid();
		user->gid = getgid();
		snprintf(user->name, sizeof(user->name), "%u", (unsigned int)user->uid);
		return 0;
	}
	log_error("not enough privilege (missing:%s): otel-agent loads BPF programs and then "
		  "serves as user %s; run it as root (sudo), or grant CAP_BPF, CAP_PERFMON, "
		  "CAP_SETUID, CAP_SETGID (docs/security.md)",
		  missing, user->name);
	return 1;
}

/* What the serving agent keeps, then the drop; 0 or the exit code. */
static int drop_privilege(struct agent *agent, const struct options *opts,
			  const struct run_as *user, bool tracing)
{
	struct privilege_plan plan = { .user = *user, .read_targets = tracing };
	struct sockaddr_storage addr;
	socklen_t addr_len;

	if (!parse_listen(opts->listen, &addr, &addr_len)) {
		unsigned short port =
			ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
							 : ((struct sockaddr_in *)&addr)->sin_port);

		plan.low_port = port && port < 1024;
	}
	if (tracing) {
		plan.map_probe = loader_probe_maps;
		plan.probe_ctx = &agent->bpf;
	}
	return privilege_drop(&plan) ? 1 : 0;
}

/* listen with the port the endpoint is bound to: the kernel's pick for port 0. */
static void bound_address(struct http_server *srv, const char *listen, char *out, size_t len)
{
	const char *colon = strrchr(listen, ':');
	int port = http_server_port(srv);

	if (port < 0 || !colon)
		snprintf(out, len, "%s", listen);
	else
		snprintf(out, len, "%.*s:%d", (int)(colon - listen), listen, port);
}

/*
 * Serves the endpoints (only /healthz, saying why, when disabled) until a
 * signal that ends the agent; 0, or 1 when the endpoint cannot start.
 */
static int serve(struct agent *agent, const struct options *opts, struct flag_decision flag)
{
	char note[256] = "";
	struct http_server_opts serve = { .listen = opts->listen,
					  .enabled = flag.enabled,
					  .health_note = note,
					  .web = &opts->web,
					  .conn_timeout_s = HTTP_CONNECTION_TIMEOUT_S };
	struct http_server *srv;
	const char *scheme = opts->web.cert_pem ? "https" : "http";
	char where[300];

	if (!flag.enabled) {
		snprintf(note, sizeof(note), "FEATURE_OTEL is not enabled (%s); nothing is loaded",
			 agent->flag_note[0] ? agent->flag_note : flag_source_name(flag.source));
		log_info("%s; to publish metrics start the target with FEATURE_OTEL=true or pass "
			 "--feature-otel=true",
			 note);
	}
	srv = http_server_serve(&serve, render_endpoint, agent);
	if (!srv)
		return 1;
	bound_address(srv, opts->listen, where, sizeof(where));
	if (flag.enabled)
		log_info("serving %s://%s/metrics/otel and %s://%s/metrics (flag from %s)", scheme,
			 where, scheme, where, flag_source_name(flag.source));
	else
		log_info("serving %s://%s/healthz only", scheme, where);
	wait_for_signal(agent, opts, flag.enabled);
	http_server_stop(srv);
	return 0;
}

/*
 * otel-agent top (src/top/): attached as the agent attaches, whatever
 * FEATURE_OTEL says (it publishes nothing), and kept as who started it:
 * it serves no endpoint, and reads only the maps and /proc. Exit code.
 */
static int run_top(struct agent *agent, const struct options *opts, struct match_list *found,
		   const sigset_t *signals)
{
	struct top_ctx x = {
		.bpf = &agent->bpf,
		.agg = &agent->agg,
		.resources = &agent->resources,
		.rules = &agent->cfg.rules,
		.opts = &opts->top,
		.signals = signals,
	};

	if (start_tracing(agent, opts, found))
		return 1;
	return top_run(&x);
}

int main(int argc, char **argv)
{
	struct agent agent = { 0 };
	struct match_list found = { 0 };
	struct options opts;
	struct flag_decision flag = { 0 };
	struct run_as user;
	char target_flag[64];
	sigset_t set;
	int ret;

	/*
	 * One malloc arena for every thread: glibc gives threads arenas of their
	 * own, and the serving threads and each scrape's render thread warmed up
	 * one after the other, 1.5 MB over the churn run's first 100 s (+180 KB
	 * with one); the agent's threads rarely allocate at the same time.
	 */
	mallopt(M_ARENA_MAX, 1);
	switch (cli_parse(argc, argv, &opts)) {
	case CLI_OK:
		break;
	case CLI_EXIT_OK:
		return 0;
	case CLI_USAGE_ERROR:
		return 2;
	}
	log_set_verbose(opts.verbose);
	if (privilege_resolve_user(opts.user, &user))
		return 2;
	/* Block before any thread starts, so only sigtimedwait sees them. */
	agent_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* a log pipe whose reader is gone: writes fail with EPIPE instead of killing the agent */
	signal(SIGPIPE, SIG_IGN);

	ret = set_up(&agent, &opts);
	if (!ret)
		ret = check_privilege(&opts, &user);
	if (ret)
		goto cleanup;
	ret = 1;

	if (discover_targets(&opts.sel, getpid(), &found))
		goto cleanup;
	if (opts.top.enabled) {
		ret = run_top(&agent, &opts, &found, &set);
		goto cleanup;
	}
	flag = decide_flag(&agent, &opts, &found, target_flag, sizeof(target_flag));
	if (flag.enabled && start_tracing(&agent, &opts, &found))
		goto cleanup;
	/* before the endpoint's threads start: they inherit what is left */
	if (drop_privilege(&agent, &opts, &user, flag.enabled))
		goto cleanup;
	ret = serve(&agent, &opts, flag);
cleanup:
	loader_stop(&agent.bpf);
	match_list_free(&found);
	aggregator_free(&agent.agg);
	resource_cache_free(&agent.resources);
	config_free(&agent.cfg);
	web_config_free(&opts.web);
	if (!ret && flag.enabled)
		log_info("detached");
	return ret;
}
