// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which kernel series retire_choose takes out of the kernel: those of
 * processes that are gone at once; those of live ones only after a whole
 * idle period, and only when their requests are exported under other
 * labels (overflow, ignored, a collapsed path), they are spilled, or the
 * map is crowded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "metrics/retire.h"

#define SEC 1000000000ULL

static bool alive_below_1000(__u32 tgid, void *arg)
{
	(void)arg;
	return tgid < 1000;
}

/* A kernel series of tgid whose path is also its route. */
static struct kernel_series ks(__u32 tgid, const char *path, __u64 count)
{
	struct kernel_series k;

	memset(&k, 0, sizeof(k));
	k.tgid = tgid;
	k.key.tgid = tgid;
	k.key.status = 200;
	strcpy(k.key.path, path);
	strcpy(k.s.route, path);
	k.s.stats.count = count;
	return k;
}

static void test_gone_at_once(void **state)
{
	struct retire_watch w = { 0 };
	struct kernel_series in[3] = { ks(5, "/a", 1), ks(1005, "/a", 1), ks(1006, "/b", 0) };

	(void)state;
	assert_int_equal(retire_choose(&w, in, 3, 100, 0, alive_below_1000, NULL), 2);
	assert_false(in[0].retire);
	assert_true(in[1].retire);
	assert_true(in[2].retire);
	assert_false(in[0].gone);
	assert_true(in[1].gone);
	assert_true(in[2].gone);
	retire_watch_free(&w);
}

static void test_live_after_idle(void **state)
{
	struct retire_watch w = { 0 };
	struct kernel_series in[5] = { ks(5, "/own", 1), ks(5, "/over", 1), ks(5, "/ign", 1),
				       ks(5, "/users/7x", 1), ks(5, "/spill", 1) };

	(void)state;
	in[1].s.overflow = 1;
	in[2].ignored = 1;
	strcpy(in[3].s.route, "/users/{name}"); /* a route rule collapsed the path */
	in[4].spilled = 1;
	/* first seen: not idle yet */
	assert_int_equal(retire_choose(&w, in, 5, 100, 1 * SEC, alive_below_1000, NULL), 0);
	/* not idle long enough */
	assert_int_equal(retire_choose(&w, in, 5, 100, 5 * SEC, alive_below_1000, NULL), 0);
	/* /over got a request: its idle time starts again */
	in[1].s.stats.count = 2;
	assert_int_equal(retire_choose(&w, in, 5, 100, 6 * SEC + 1, alive_below_1000, NULL), 3);
	assert_false(in[0].retire); /* its own series: stays while the map has room */
	assert_false(in[1].retire);
	assert_true(in[2].retire);
	assert_true(in[3].retire);
	assert_true(in[4].retire);
	assert_int_equal(retire_choose(&w, in, 5, 100, 11 * SEC + 1, alive_below_1000, NULL), 4);
	assert_true(in[1].retire);
	assert_false(in[0].retire);
	retire_watch_free(&w);
}

static void test_crowded_map(void **state)
{
	struct retire_watch w = { 0 };
	struct kernel_series in[4] = { ks(5, "/a", 1), ks(5, "/b", 1), ks(5, "/c", 1),
				       ks(5, "/d", 1) };

	(void)state;
	assert_int_equal(retire_choose(&w, in, 4, 4, 0, alive_below_1000, NULL), 0);
	in[3].s.stats.count = 9; /* busy: stays */
	/* 4 of 4 entries: idle ones leave, whatever they are */
	assert_int_equal(retire_choose(&w, in, 4, 4, 6 * SEC, alive_below_1000, NULL), 3);
	assert_false(in[3].retire);
	/* 4 of 8: room enough, nothing of its own leaves */
	assert_int_equal(retire_choose(&w, in, 4, 8, 12 * SEC, alive_below_1000, NULL), 0);
	/* spilled entries (watched apart: a new key) do not crowd the series map */
	for (int i = 0; i < 4; i++)
		in[i].spilled = i > 0;
	in[0].s.stats.count = 5;
	assert_int_equal(retire_choose(&w, in, 4, 2, 14 * SEC, alive_below_1000, NULL), 0);
	assert_int_equal(retire_choose(&w, in, 4, 2, 20 * SEC, alive_below_1000, NULL), 3);
	assert_false(in[0].retire);
	retire_watch_free(&w);
}

/* The watch forgets what left the kernel; the same key in both maps is watched twice. */
static void test_watch_bounded(void **state)
{
	struct retire_watch w = { 0 };
	struct kernel_series in[2] = { ks(5, "/a", 1), ks(5, "/a", 1) };

	(void)state;
	in[1].spilled = 1;
	assert_int_equal(retire_choose(&w, in, 2, 100, 0, alive_below_1000, NULL), 0);
	assert_int_equal(w.seen.nr_nodes, 2);
	in[0].s.stats.count = 3; /* only the one in series got requests */
	assert_int_equal(retire_choose(&w, in, 2, 100, 6 * SEC, alive_below_1000, NULL), 1);
	assert_true(in[1].retire);
	assert_int_equal(retire_choose(&w, in, 1, 100, 7 * SEC, alive_below_1000, NULL), 0);
	assert_int_equal(w.seen.nr_nodes, 1);
	retire_watch_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gone_at_once),
		cmocka_unit_test(test_live_after_idle),
		cmocka_unit_test(test_crowded_map),
		cmocka_unit_test(test_watch_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
