// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otel-agent entry point: parse options, decide the FEATURE_OTEL flag, load
 * and attach the BPF side when enabled, serve the endpoints, and detach on
 * SIGINT/SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "aggregate.h"
#include "bpf_loader.h"
#include "buckets.h"
#include "cli.h"
#include "feature_flag.h"
#include "http_server.h"
#include "log.h"
#include "render.h"
#include "targets.h"

#ifndef OA_VERSION
#define OA_VERSION "0.1.0"
#endif

struct agent {
	struct bpf_agent bpf;
	char host_name[256];
};

static int render_endpoint(void *ctx, enum oa_endpoint ep, FILE *out)
{
	struct agent *agent = ctx;
	struct oa_snapshot snap;
	int err;

	err = aggregate_snapshot(&agent->bpf, &snap);
	if (err)
		return err;
	snap.host_name = agent->host_name;
	snap.version = OA_VERSION;
	err = ep == EP_OTEL ? render_otel(&snap, out) : render_plugin(&snap, out);
	snapshot_free(&snap);
	return err;
}

/* The first target that sets FEATURE_OTEL decides, when neither the option nor our env does. */
static struct flag_decision decide_flag(const struct options *opts, char *target_value, size_t len)
{
	target_value[0] = '\0';
	for (size_t i = 0; i < opts->nr_pids; i++) {
		if (!target_getenv(opts->pids[i], "FEATURE_OTEL", target_value, len) &&
		    target_value[0])
			break;
	}
	return flag_resolve(opts->feature_otel, getenv("FEATURE_OTEL"), target_value);
}

static void wait_for_signal(const struct options *opts)
{
	struct timespec tick = { .tv_sec = 1 };
	bool gone[OA_MAX_PIDS] = { false };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGINT || sig == SIGTERM) {
			log_info("%s received; detaching", strsignal(sig));
			return;
		}
		for (size_t i = 0; i < opts->nr_pids; i++) {
			if (!gone[i] && !target_exists(opts->pids[i])) {
				gone[i] = true;
				log_info("target pid %d exited; still serving what it counted",
					 opts->pids[i]);
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct agent agent = { 0 };
	struct http_server *srv = NULL;
	struct options opts;
	struct flag_decision flag;
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
	for (size_t i = 0; i < opts.nr_pids; i++) {
		if (!target_exists(opts.pids[i])) {
			log_error("no process with pid %d", opts.pids[i]);
			return 1;
		}
	}
	if (gethostname(agent.host_name, sizeof(agent.host_name) - 1))
		snprintf(agent.host_name, sizeof(agent.host_name), "unknown");

	/* Block before any thread starts, so only sigtimedwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	flag = decide_flag(&opts, target_flag, sizeof(target_flag));
	if (flag.enabled) {
		nr_bounds = buckets_union(&buckets_otel, &buckets_plugin, bounds, OA_MAX_BOUNDS);
		if (nr_bounds < 0 || bpf_agent_preflight() ||
		    bpf_agent_start(&agent.bpf, bounds, (unsigned int)nr_bounds, opts.pids,
				    opts.nr_pids))
			goto cleanup;
		for (size_t i = 0; i < opts.nr_pids; i++)
			log_info("tracing pid %d and its descendants", opts.pids[i]);
		note[0] = '\0';
	} else {
		snprintf(note, sizeof(note), "FEATURE_OTEL is not enabled (%s); nothing is loaded",
			 flag_source_name(flag.source));
		log_info("%s; to publish metrics start the target with FEATURE_OTEL=true or pass "
			 "--feature-otel=true",
			 note);
	}
	srv = http_server_start(opts.listen, flag.enabled, note, render_endpoint, &agent);
	if (!srv)
		goto cleanup;
	if (flag.enabled)
		log_info("serving http://%s/metrics/otel and http://%s/metrics (flag from %s)",
			 opts.listen, opts.listen, flag_source_name(flag.source));
	else
		log_info("serving http://%s/healthz only", opts.listen);
	wait_for_signal(&opts);
	ret = 0;
cleanup:
	http_server_stop(srv);
	bpf_agent_stop(&agent.bpf);
	if (!ret && flag.enabled)
		log_info("detached");
	return ret;
}
