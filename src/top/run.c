// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Owns the loop of otel-agent top (run.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "kernel/reclaim.h"
#include "targets/watch.h"
#include "top/active.h"
#include "top/format.h"
#include "top/run.h"
#include "top/screen.h"

/* Keys and signals are looked at this often; the kernel's new targets too. */
#define TICK_MS		    100
#define RECLAIM_EVERY_TICKS (5000 / TICK_MS)

/* What the view shows, and what it is sorted and filtered by. */
struct view {
	struct oa_snapshot prev, cur; /* cur: taken at start, then every interval */
	double prev_at, cur_at;	      /* CLOCK_MONOTONIC seconds */
	struct top_table table;
	enum top_column sort;
	bool reverse, paused, interactive;
	char filter[OA_MAX_ROUTE];
	const char *names[OA_MAX_TARGETS]; /* the targets' commands, for the header */
};

static double now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int snapshot(const struct top_ctx *x, struct oa_snapshot *snap)
{
	int err = aggregate_snapshot(x->agg, x->bpf, snap);

	if (!err)
		resources_read(x->resources, snap);
	return err;
}

/* A new interval: the table from the snapshot before and the one now. */
static int next_table(const struct top_ctx *x, struct view *v)
{
	struct oa_snapshot snap;
	int err = snapshot(x, &snap);

	if (err)
		return err;
	snapshot_free(&v->prev);
	v->prev = v->cur;
	v->prev_at = v->cur_at;
	v->cur = snap;
	v->cur_at = now_s(CLOCK_MONOTONIC);
	top_table_free(&v->table);
	err = top_table_build(&v->table, &v->prev, &v->cur, v->cur_at - v->prev_at);
	if (!err)
		err = top_active_add(x->bpf, x->rules, &v->table);
	return err;
}

static void header_of(struct view *v, struct top_header *h)
{
	const struct oa_snapshot *s = &v->cur;

	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < s->nr_targets && i < OA_MAX_TARGETS; i++)
		v->names[i] = s->resources ? s->resources[i].command : NULL;
	h->targets = s->targets;
	h->nr_targets = s->nr_targets;
	h->target_names = s->resources ? v->names : NULL;
	h->events = s->events;
	h->map_errors = s->map_errors;
	h->sort = v->sort;
	h->reverse = v->reverse;
	h->filter = v->filter[0] ? v->filter : NULL;
	h->paused = v->paused;
}

/* The table as the screen shows it: its rows filtered, laid out for the terminal's width. */
static int draw(struct view *v, const struct top_header *h)
{
	struct top_table shown = v->table;
	bool alert[256] = { false };
	size_t first_row = 5; /* format.c: three header lines, a blank, the columns */
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int err;

	/* a filtered copy of the rows: the table keeps them all for the next key */
	shown.rows = calloc(v->table.nr + 1, sizeof(*shown.rows));
	if (!shown.rows)
		return -ENOMEM;
	if (v->table.nr)
		memcpy(shown.rows, v->table.rows, v->table.nr * sizeof(*shown.rows));
	top_table_filter(&shown, h->filter);
	out = open_memstream(&text, &len);
	err = out ? top_format_text(out, &shown, h, top_screen_width()) : -errno;
	if (out)
		fclose(out);
	for (size_t i = 0; i < shown.nr && first_row + i < 256; i++)
		alert[first_row + i] = shown.rows[i].share_5xx > 0 || shown.rows[i].errors;
	if (!err)
		top_screen_draw(text, 3, 4, alert, 256);
	free(shown.rows);
	free(text);
	return err;
}

/* Sorted, filtered and written out: to the screen, or to stdout. */
static int show(const struct top_ctx *x, struct view *v)
{
	struct top_header h;
	int err;

	top_table_sort(&v->table, v->sort, v->reverse);
	header_of(v, &h);
	if (v->interactive)
		return draw(v, &h);
	if (x->opts->json)
		err = top_format_json(stdout, &v->table, &h, now_s(CLOCK_REALTIME));
	else
		err = top_format_text(stdout, &v->table, &h, 0);
	if (!err && !x->opts->json && !x->opts->once)
		putchar('\n');
	fflush(stdout);
	return err;
}

/* A key of the interactive view: false when it ends top. */
static bool take_key(struct view *v, int c)
{
	static const struct {
		int key;
		enum top_column col;
	} sorts[] = {
		{ 'r', TOP_COL_RATE },	{ 't', TOP_COL_TOTAL },	 { '4', TOP_COL_4XX },
		{ '5', TOP_COL_5XX },	{ 'e', TOP_COL_ERRORS }, { '1', TOP_COL_P50 },
		{ '2', TOP_COL_P90 },	{ '9', TOP_COL_P99 },	 { 'a', TOP_COL_ACTIVE },
		{ 'n', TOP_COL_ROUTE },
	};

	if (c == 'q' || c == 'Q')
		return false;
	for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++) {
		if (c == sorts[i].key) {
			v->sort = sorts[i].col;
			v->reverse = false;
		}
	}
	if (c == 'R')
		v->reverse = !v->reverse;
	else if (c == ' ')
		v->paused = !v->paused;
	else if (c == '/')
		top_screen_prompt("filter routes containing: ", v->filter, sizeof(v->filter));
	return true;
}

/* A signal that ends top, if one came; the others are said and ignored. */
static bool ended_by_signal(const sigset_t *set)
{
	struct timespec zero = { 0 };
	int sig = sigtimedwait(set, NULL, &zero);

	if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT || sig == SIGHUP)
		return true;
	if (sig > 0)
		log_debug("signal %d ignored", sig);
	return false;
}

int top_run(const struct top_ctx *x)
{
	struct view v = { .sort = TOP_COL_RATE };
	struct target_watch watch = { 0 };
	unsigned long ticks = 0;
	double next;
	int err, ret = 0;

	err = snapshot(x, &v.cur);
	if (err) {
		log_error("cannot read the kernel maps: %s", strerror(-err));
		return 1;
	}
	/* the first interval starts here: what is counted from now on is in it */
	log_info("top: a table every %.1f s%s", x->opts->delay_s, x->opts->once ? ", once" : "");
	v.interactive = !x->opts->once && !x->opts->json && !top_screen_open();
	v.cur_at = now_s(CLOCK_MONOTONIC);
	if (target_watch_init(&watch, x->bpf))
		log_debug("no memory to watch the targets; the kernel keeps tracking them");
	next = v.cur_at + x->opts->delay_s;
	if (v.interactive)
		show(x, &v); /* the targets, until the first interval has passed */
	for (;;) {
		int c = v.interactive ? top_screen_key(TICK_MS) : -1;

		if (!v.interactive) {
			struct timespec tick = { .tv_nsec = TICK_MS * 1000000L };

			nanosleep(&tick, NULL);
		}
		if (ended_by_signal(x->signals))
			break;
		if (c >= 0 && !take_key(&v, c))
			break;
		target_watch_tick(&watch);
		if (++ticks % RECLAIM_EVERY_TICKS == 0)
			reclaim_stale(x->bpf);
		/* a key (or a resize): the same table, sorted or filtered anew */
		if (c >= 0 && v.interactive)
			show(x, &v);
		if (now_s(CLOCK_MONOTONIC) < next || v.paused)
			continue;
		/* after a pause, the next interval starts now rather than catching up */
		next += x->opts->delay_s;
		if (next < now_s(CLOCK_MONOTONIC))
			next = now_s(CLOCK_MONOTONIC) + TICK_MS / 1000.0;
		err = next_table(x, &v);
		if (!err)
			err = show(x, &v);
		if (err) {
			if (v.interactive)
				top_screen_close();
			log_error("cannot make the table: %s", strerror(-err));
			ret = 1;
			break;
		}
		if (x->opts->once)
			break;
	}
	if (v.interactive)
		top_screen_close();
	target_watch_free(&watch);
	top_table_free(&v.table);
	snapshot_free(&v.prev);
	snapshot_free(&v.cur);
	return ret;
}
