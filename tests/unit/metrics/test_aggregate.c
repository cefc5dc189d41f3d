// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * From kernel series to exported ones: routes and ignore patterns, the
 * per-target cardinality cap (admission, stability across scrapes, exact
 * totals, targets forgotten), seen through what aggregate_series exports
 * scrape after scrape; and reading the kernel's series map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "metrics/aggregate.h"

/* A kernel series of target tgid: count requests of 1 ms each in bucket 1, 10 bytes each. */
static struct kernel_series ks(__u32 tgid, __u8 method, __u16 status, const char *path, __u64 count)
{
	struct kernel_series k;

	memset(&k, 0, sizeof(k));
	k.tgid = tgid;
	k.s.method = method;
	k.s.status = status;
	k.s.version = OA_HTTP_11;
	strcpy(k.s.route, path);
	k.s.stats.count = count;
	k.s.stats.sum_ns = count * 1000;
	k.s.stats.buckets[1] = count;
	k.s.stats.req_body.count = count; /* in size bucket 2 */
	k.s.stats.req_body.sum = 10 * count;
	k.s.stats.req_body.buckets[2] = count;
	k.s.stats.resp_body.count = count;
	return k;
}

static __u64 sum_counts(const struct oa_snapshot *snap)
{
	__u64 n = 0;

	for (size_t i = 0; i < snap->nr_series; i++)
		n += snap->series[i].stats.count;
	return n;
}

static const struct oa_series *find(const struct oa_snapshot *snap, __u8 method, __u16 status,
				    const char *route)
{
	for (size_t i = 0; i < snap->nr_series; i++) {
		const struct oa_series *s = &snap->series[i];

		if (!s->overflow && s->method == method && s->status == status &&
		    !strcmp(s->route, route))
			return s;
	}
	return NULL;
}

/* All overflow series summed (the renderer exports them as one); NULL if there are none. */
static const struct oa_series *find_overflow(const struct oa_snapshot *snap)
{
	static struct oa_series sum;
	bool any = false;

	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < snap->nr_series; i++) {
		const struct oa_series *s = &snap->series[i];

		if (!s->overflow)
			continue;
		/* only status and error are kept, for the renderer's filters */
		assert_int_equal(s->method, OA_METHOD_OTHER);
		assert_int_equal(s->version, 0);
		assert_string_equal(s->route, "");
		sum.stats.count += s->stats.count;
		sum.stats.sum_ns += s->stats.sum_ns;
		sum.stats.req_body.count += s->stats.req_body.count;
		sum.stats.req_body.sum += s->stats.req_body.sum;
		sum.stats.req_body.buckets[2] += s->stats.req_body.buckets[2];
		sum.stats.resp_body.count += s->stats.resp_body.count;
		for (int b = 0; b < OA_NR_BUCKETS; b++)
			sum.stats.buckets[b] += s->stats.buckets[b];
		any = true;
	}
	return any ? &sum : NULL;
}

/* How many overflow series there are. */
static size_t nr_overflow(const struct oa_snapshot *snap)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->nr_series; i++)
		n += snap->series[i].overflow;
	return n;
}

/* How many series are exported with their own labels: the admitted label sets, over targets. */
static size_t nr_admitted(const struct oa_snapshot *snap)
{
	return snap->nr_series - nr_overflow(snap);
}

/* How many of those have a route starting with prefix, each with count requests. */
static size_t nr_admitted_on(const struct oa_snapshot *snap, const char *prefix, __u64 count)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->nr_series; i++) {
		const struct oa_series *s = &snap->series[i];

		if (!s->overflow && !strncmp(s->route, prefix, strlen(prefix))) {
			assert_int_equal(s->stats.count, count);
			n++;
		}
	}
	return n;
}

/* aggregate_series on a copy, as each scrape reads the kernel map afresh. */
static void scrape(struct aggregator *agg, const struct kernel_series *kernel, size_t n,
		   struct oa_snapshot *snap)
{
	struct kernel_series *in = calloc(n ? n : 1, sizeof(*in));

	assert_non_null(in);
	memcpy(in, kernel, n * sizeof(*in));
	memset(snap, 0, sizeof(*snap));
	assert_int_equal(aggregate_series(agg, in, n, snap), 0);
	free(in);
}

static void test_routes_and_ignore(void **state)
{
	static const char *const templates[] = { "/api/users/{user}" };
	static const char *const ignores[] = { "/healthz", "/internal/*" };
	const struct route_rules rules = { templates, 1, ignores, 2 };
	struct kernel_series k[6];
	struct aggregator agg;
	struct oa_snapshot snap;

	(void)state;
	k[0] = ks(10, OA_METHOD_GET, 200, "/api/users/{id}", 3);
	k[1] = ks(10, OA_METHOD_GET, 200, "/api/users/alice", 2);
	k[2] = ks(11, OA_METHOD_GET, 200, "/api/users/{id}", 4);
	k[3] = ks(10, OA_METHOD_GET, 200, "/healthz", 50);
	k[4] = ks(11, OA_METHOD_GET, 200, "/internal/{id}/state", 7);
	k[5] = ks(10, OA_METHOD_GET, 200, "/t/dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", 1);
	assert_int_equal(aggregator_init(&agg, &rules, 2000, 0), 0);
	/* the second scrape takes the routes from the memo of the first, the third one a subset */
	for (int round = 0; round < 3; round++) {
		scrape(&agg, k, round < 2 ? 6 : 3, &snap);
		assert_int_equal(snap.nr_series, round < 2 ? 2 : 1);
		assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/api/users/{user}")->stats.count,
				 9);
		assert_int_equal(
			find(&snap, OA_METHOD_GET, 200, "/api/users/{user}")->stats.req_body.sum,
			90);
		if (round < 2)
			assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/t/{token}")->stats.count,
					 1);
		assert_int_equal(snap.requests_ignored, round < 2 ? 57 : 0);
		assert_int_equal(snap.series_overflowed, 0);
		assert_null(find_overflow(&snap));
		snapshot_free(&snap);
	}
	aggregator_free(&agg);
	aggregator_free(&agg); /* twice is harmless */
}

/* 12 routes of one target under a cap of 5, seen over two scrapes. */
static void test_cap(void **state)
{
	struct kernel_series k[14];
	const struct oa_series *s;
	struct aggregator agg;
	struct oa_snapshot snap;
	char path[32];
	__u64 sent = 0;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 5, 0), 0);
	/* scrape 1: five routes, in no particular order, all admitted */
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/r/%c", 'e' - i);
		k[i] = ks(7, OA_METHOD_GET, 200, path, 1 + i);
		sent += 1 + i;
	}
	scrape(&agg, k, 5, &snap);
	assert_int_equal(snap.nr_series, 5);
	assert_null(find_overflow(&snap));
	assert_int_equal(sum_counts(&snap), sent);
	snapshot_free(&snap);

	/* scrape 2: seven more routes; they fold, the first five stay */
	for (int i = 5; i < 12; i++) {
		snprintf(path, sizeof(path), "/r/%c", 'a' + i);
		k[i] = ks(7, OA_METHOD_GET, 200, path, 2);
		sent += 2;
	}
	/* a new status on an admitted route is a new label set too */
	k[12] = ks(7, OA_METHOD_GET, 500, "/r/a", 3);
	sent += 3;
	scrape(&agg, k, 13, &snap);
	/* the overflow of each status (and error) apart, for the renderer's families */
	assert_int_equal(snap.nr_series, 7);
	assert_int_equal(nr_overflow(&snap), 2);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/r/%c", 'e' - i);
		s = find(&snap, OA_METHOD_GET, 200, path);
		assert_non_null(s);
		assert_int_equal(s->stats.count, 1 + i);
	}
	s = find_overflow(&snap);
	assert_non_null(s);
	assert_int_equal(s->stats.count, 7 * 2 + 3);
	assert_int_equal(s->stats.buckets[1], 7 * 2 + 3);
	assert_int_equal(s->stats.sum_ns, (7 * 2 + 3) * 1000);
	/* body sizes fold along */
	assert_int_equal(s->stats.req_body.count, 7 * 2 + 3);
	assert_int_equal(s->stats.req_body.sum, (7 * 2 + 3) * 10);
	assert_int_equal(s->stats.req_body.buckets[2], 7 * 2 + 3);
	assert_int_equal(s->stats.resp_body.count, 7 * 2 + 3);
	assert_int_equal(snap.series_overflowed, 17);
	assert_int_equal(sum_counts(&snap), sent);
	/* every label set is in the map: the five exported are all the registry admitted */
	assert_int_equal(nr_admitted(&snap), 5);
	snapshot_free(&snap);

	/* scrape 3: a request to an early route counts in its own series */
	k[0].s.stats.count++;
	k[0].s.stats.buckets[1]++;
	k[6].s.stats.count++;
	k[6].s.stats.buckets[1]++;
	sent += 2;
	scrape(&agg, k, 13, &snap);
	assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/r/e")->stats.count, 2);
	assert_int_equal(find_overflow(&snap)->stats.count, 18);
	assert_int_equal(sum_counts(&snap), sent);
	snapshot_free(&snap);
	aggregator_free(&agg);
}

/*
 * New label sets of one scrape past the cap are admitted in label order
 * (method, status, version, error, route: docs/configuration.md), not in
 * the order they are exported in (route before status).
 */
static void test_cap_label_order(void **state)
{
	struct kernel_series k[3];
	struct aggregator agg;
	struct oa_snapshot snap;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 2, 0), 0);
	k[0] = ks(7, OA_METHOD_GET, 500, "/a", 1);
	k[1] = ks(7, OA_METHOD_GET, 404, "/m", 1);
	k[2] = ks(7, OA_METHOD_GET, 200, "/z", 1);
	scrape(&agg, k, 3, &snap);
	assert_non_null(find(&snap, OA_METHOD_GET, 200, "/z"));
	assert_non_null(find(&snap, OA_METHOD_GET, 404, "/m"));
	assert_null(find(&snap, OA_METHOD_GET, 500, "/a"));
	assert_non_null(find_overflow(&snap));
	/* and handed to the renderer in its order: route first */
	assert_int_equal(snap.nr_series, 3);
	assert_string_equal(snap.series[0].route, "/m");
	assert_string_equal(snap.series[1].route, "/z");
	assert_int_equal(snap.series[2].overflow, 1);
	snapshot_free(&snap);
	aggregator_free(&agg);
}

/* Equal scrapes give equal results, whatever order the kernel map lists series in. */
/*
 * New label sets read at one scrape are admitted in the order the kernel
 * created them: a flood of new paths between two scrapes does not push
 * out a route that came before it, even one that sorts after them. Several
 * kernel series of one label set count from the earliest.
 */
static void test_cap_first_seen(void **state)
{
	struct kernel_series k[6];
	struct aggregator agg;
	struct oa_snapshot snap;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 2, 0), 0);
	k[0] = ks(7, OA_METHOD_GET, 200, "/flood-1", 1);
	k[1] = ks(7, OA_METHOD_GET, 200, "/flood-2", 1);
	k[2] = ks(7, OA_METHOD_GET, 200, "/zz-established", 8);
	k[3] = ks(7, OA_METHOD_GET, 200, "/flood-3", 1);
	k[4] = ks(7, OA_METHOD_GET, 200, "/zz-second", 2);
	k[5] = ks(7, OA_METHOD_GET, 200, "/zz-second", 3); /* the same label set, seen later */
	k[0].s.stats.first_ns = 3000;
	k[1].s.stats.first_ns = 4000;
	k[2].s.stats.first_ns = 1000;
	k[3].s.stats.first_ns = 5000;
	k[4].s.stats.first_ns = 9000;
	k[5].s.stats.first_ns = 2000;
	scrape(&agg, k, 6, &snap);
	assert_non_null(find(&snap, OA_METHOD_GET, 200, "/zz-established"));
	assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/zz-established")->stats.count, 8);
	assert_non_null(find(&snap, OA_METHOD_GET, 200, "/zz-second"));
	assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/zz-second")->stats.count, 5);
	assert_null(find(&snap, OA_METHOD_GET, 200, "/flood-1"));
	assert_non_null(find_overflow(&snap));
	assert_int_equal(find_overflow(&snap)->stats.count, 3);
	assert_int_equal(sum_counts(&snap), 16);
	snapshot_free(&snap);
	aggregator_free(&agg);
}

static void test_cap_stable(void **state)
{
	enum { N = 40 };
	struct kernel_series k[N], shuffled[N];
	struct oa_snapshot a, b;
	struct aggregator agg;
	char path[32];
	unsigned int seed = 1;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 10, 0), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/p%d", i);
		k[i] = ks(1 + i % 2, (__u8)(1 + i % 3), 200, path, 1 + i);
	}
	/* all new at once: admitted in label order, the rest folded */
	scrape(&agg, k, N, &a);
	assert_int_equal(nr_admitted(&a), 20); /* ten of each target, routes all apart */
	assert_int_equal(a.nr_series, 21);
	for (int round = 0; round < 5; round++) {
		memcpy(shuffled, k, sizeof(k));
		for (int i = N - 1; i > 0; i--) {
			int j = (int)((seed = seed * 1103515245u + 12345u) % (unsigned int)(i + 1));
			struct kernel_series t = shuffled[i];

			shuffled[i] = shuffled[j];
			shuffled[j] = t;
		}
		scrape(&agg, shuffled, N, &b);
		assert_int_equal(b.nr_series, a.nr_series);
		for (size_t i = 0; i < a.nr_series; i++) {
			assert_int_equal(a.series[i].overflow, b.series[i].overflow);
			assert_int_equal(a.series[i].stats.count, b.series[i].stats.count);
			assert_string_equal(a.series[i].route, b.series[i].route);
		}
		snapshot_free(&b);
	}
	assert_int_equal(sum_counts(&a), N * (N + 1) / 2);
	snapshot_free(&a);
	aggregator_free(&agg);
}

/* Each target has its own cap; overflow series of all targets export as one. */
static void test_cap_per_target(void **state)
{
	struct kernel_series k[9];
	struct aggregator agg;
	struct oa_snapshot snap;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 2, 0), 0);
	k[0] = ks(100, OA_METHOD_GET, 200, "/a", 1);
	k[1] = ks(100, OA_METHOD_GET, 200, "/b", 1);
	k[2] = ks(100, OA_METHOD_GET, 200, "/c", 5);
	k[3] = ks(200, OA_METHOD_GET, 200, "/c", 2);
	k[4] = ks(200, OA_METHOD_GET, 200, "/d", 2);
	k[5] = ks(200, OA_METHOD_GET, 200, "/e", 6);
	/* the same label set twice in one target (two raw paths, one route) is one series */
	k[6] = ks(300, OA_METHOD_GET, 200, "/u/{id}", 1);
	k[7] = ks(300, OA_METHOD_GET, 200, "/u/42", 1);
	k[8] = ks(300, OA_METHOD_GET, 200, "/v", 1);
	scrape(&agg, k, 9, &snap);
	/* /a /b of 100, /c /d of 200 (100's /c folded), /u/{id} /v of 300, one overflow */
	assert_int_equal(snap.nr_series, 7);
	assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/c")->stats.count, 2);
	assert_int_equal(find(&snap, OA_METHOD_GET, 200, "/u/{id}")->stats.count, 2);
	assert_null(find(&snap, OA_METHOD_GET, 200, "/e"));
	assert_int_equal(find_overflow(&snap)->stats.count, 11);
	assert_int_equal(snap.series_overflowed, 11);
	assert_int_equal(sum_counts(&snap), 20);
	assert_int_equal(nr_admitted(&snap), 6);
	snapshot_free(&snap);
	aggregator_free(&agg);
}

/* ROUTES series of target tgid, one request each, on routes prefix + "-a0", "-b1", ... */
static void routes_of(struct kernel_series *k, __u32 tgid, const char *prefix, int routes)
{
	char path[32];

	for (int r = 0; r < routes; r++) {
		snprintf(path, sizeof(path), "%s-%c%d", prefix, 'a' + r % 26, r);
		k[r] = ks(tgid, OA_METHOD_POST, 201, path, 1);
	}
}

/*
 * The registry holds cap label sets per target with series, however many
 * there are, and forgets a target whose series left the kernel map: its
 * pid has room for cap new label sets again.
 */
static void test_cap_memory(void **state)
{
	enum { TARGETS = 3, ROUTES = 3000, CAP = 50 };
	struct kernel_series *k = calloc(TARGETS * ROUTES + 1, sizeof(*k));
	struct aggregator agg;
	struct oa_snapshot snap;

	(void)state;
	assert_non_null(k);
	assert_int_equal(aggregator_init(&agg, NULL, CAP, 0), 0);
	for (int t = 0; t < TARGETS; t++)
		routes_of(k + t * ROUTES, 1000 + t, "/slug", ROUTES);
	for (int round = 0; round < 3; round++) {
		scrape(&agg, k, TARGETS * ROUTES, &snap);
		/* the same 50 routes admitted in each target: merged over targets */
		assert_int_equal(snap.nr_series, CAP + 1);
		assert_int_equal(nr_admitted_on(&snap, "/slug-", TARGETS), CAP);
		assert_int_equal(sum_counts(&snap), TARGETS * ROUTES);
		assert_int_equal(snap.series_overflowed, TARGETS * (ROUTES - CAP));
		snapshot_free(&snap);
	}
	/* target 1002's series leave the kernel map */
	scrape(&agg, k, 2 * ROUTES, &snap);
	assert_int_equal(snap.nr_series, CAP + 1);
	assert_int_equal(nr_admitted_on(&snap, "/slug-", 2), CAP);
	assert_int_equal(snap.series_overflowed, 2 * (ROUTES - CAP));
	snapshot_free(&snap);
	/*
	 * 1002 is back with other routes: forgotten, it admits CAP of them;
	 * 1000 and 1001 are not, so the route 1000 adds folds, first in label
	 * order though it is.
	 */
	routes_of(k + 2 * ROUTES, 1002, "/again", ROUTES);
	k[TARGETS * ROUTES] = ks(1000, OA_METHOD_POST, 201, "/a-late", 1);
	scrape(&agg, k, TARGETS * ROUTES + 1, &snap);
	assert_int_equal(snap.nr_series, 2 * CAP + 1);
	assert_int_equal(nr_admitted_on(&snap, "/slug-", 2), CAP);
	assert_int_equal(nr_admitted_on(&snap, "/again-", 1), CAP);
	assert_null(find(&snap, OA_METHOD_POST, 201, "/a-late"));
	assert_int_equal(snap.series_overflowed, TARGETS * (ROUTES - CAP) + 1);
	assert_int_equal(sum_counts(&snap), TARGETS * ROUTES + 1);
	snapshot_free(&snap);
	/* an empty map: every target is forgotten, and each admits new routes again */
	scrape(&agg, k, 0, &snap);
	assert_int_equal(snap.nr_series, 0);
	snapshot_free(&snap);
	routes_of(k, 1000, "/again", ROUTES);
	routes_of(k + ROUTES, 1001, "/again", ROUTES);
	routes_of(k + 2 * ROUTES, 1002, "/slug", ROUTES);
	scrape(&agg, k, TARGETS * ROUTES, &snap);
	assert_int_equal(snap.nr_series, 2 * CAP + 1);
	assert_int_equal(nr_admitted_on(&snap, "/again-", 2), CAP);
	assert_int_equal(nr_admitted_on(&snap, "/slug-", 1), CAP);
	assert_int_equal(snap.series_overflowed, TARGETS * (ROUTES - CAP));
	snapshot_free(&snap);
	aggregator_free(&agg);
	free(k);
}

/*
 * The kernel's own overflow series (a target at its cap) is exported as
 * overflow; what left the kernel (the retired store) is exported with what
 * is still there, merged under the same labels, and the kernel series that
 * sum a folded label set are marked overflow, the form they retire in.
 */
static void test_kernel_overflow_and_retired(void **state)
{
	struct kernel_series k[3];
	struct oa_series gone = ks(9, OA_METHOD_GET, 200, "/a", 0).s;
	struct http_stats four = ks(9, OA_METHOD_GET, 200, "/a", 4).s.stats;
	struct kernel_series in[3];
	struct aggregator agg;
	struct oa_snapshot snap;
	const struct oa_series *a;

	(void)state;
	assert_int_equal(aggregator_init(&agg, NULL, 1, 0), 0);
	k[0] = ks(1000, OA_METHOD_GET, 200, "/a", 3);
	k[1] = ks(1000, OA_METHOD_GET, 404, "", 5);
	k[1].key.flags = OA_SERIES_OVERFLOW;
	k[2] = ks(1000, OA_METHOD_GET, 200, "/b", 2); /* past the cap of 1 */
	k[2].s.stats.first_ns = 1;
	assert_int_equal(retired_add_series(&agg.retired, &gone, &four), 0);
	retired_settle(&agg.retired);
	memcpy(in, k, sizeof(in));
	memset(&snap, 0, sizeof(snap));
	assert_int_equal(aggregate_series(&agg, in, 3, &snap), 0);
	a = find(&snap, OA_METHOD_GET, 200, "/a");
	assert_non_null(a);
	assert_int_equal(a->stats.count, 7);
	assert_non_null(find_overflow(&snap));
	assert_int_equal(find_overflow(&snap)->stats.count, 7);
	assert_int_equal(snap.series_overflowed, 7);
	assert_false(in[0].s.overflow);
	assert_true(in[1].s.overflow);
	assert_true(in[2].s.overflow);
	assert_int_equal(sum_counts(&snap), 14);
	snapshot_free(&snap);
	aggregator_free(&agg);
}

#define MAP_SERIES 700 /* more than one batch */

/* The series of key i, as written to each CPU's slot. */
static void kernel_key(struct series_key *k, unsigned int i)
{
	memset(k, 0, sizeof(*k));
	k->tgid = 100 + i % 3;
	k->status = 200;
	k->method = OA_METHOD_GET;
	k->version = OA_HTTP_11;
	snprintf(k->path, sizeof(k->path), "/k/%u", i);
}

static int cmp_read_path(const void *pa, const void *pb)
{
	const struct kernel_series *a = pa, *b = pb;

	return strcmp(a->s.route, b->s.route);
}

/*
 * The series map read in batches (or key by key on kernels without them):
 * every series once, its per-CPU slots summed. Needs the rights to create
 * a BPF map; skipped without them.
 */
static void test_read_kernel_series(void **state)
{
	int nr_cpus = libbpf_num_possible_cpus();
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	struct http_stats *vals = calloc((size_t)(nr_cpus > 0 ? nr_cpus : 1), sizeof(*vals));
	struct kernel_series *got = NULL;
	struct series_key k;
	size_t n = 0;
	int fd, err;

	(void)state;
	assert_true(nr_cpus > 0);
	assert_non_null(vals);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "test_series", sizeof(struct series_key),
			    sizeof(struct http_stats), 4096, &opts);
	if (fd < 0) {
		free(vals);
		skip(); /* not root, or no BPF */
	}
	for (unsigned int i = 0; i < MAP_SERIES; i++) {
		kernel_key(&k, i);
		for (int c = 0; c < nr_cpus; c++) {
			vals[c].count = i + c;
			vals[c].sum_ns = 1000ULL * (i + c);
			vals[c].buckets[c % OA_NR_BUCKETS] = i + c;
			vals[c].resp_body.count = 1;
			vals[c].resp_body.buckets[2] = 1;
		}
		/*
		 * A map allocated as used takes its elements from per-CPU caches
		 * that the kernel refills asynchronously: with other tests
		 * allocating at the same time an insert can fail with ENOMEM for
		 * a moment (seen with 6 copies of this test at once).
		 */
		for (int tries = 0; tries < 100; tries++) {
			err = bpf_map_update_elem(fd, &k, vals, BPF_ANY);
			if (err != -ENOMEM)
				break;
			usleep(1000);
		}
		if (err)
			fail_msg("update of series %u: %s", i, strerror(-err));
	}
	assert_int_equal(read_kernel_series(fd, nr_cpus, &got, &n), 0);
	assert_int_equal(n, MAP_SERIES);
	qsort(got, n, sizeof(*got), cmp_read_path);
	for (size_t j = 0; j < n; j++) {
		unsigned int i = (unsigned int)strtoul(got[j].s.route + 3, NULL, 10);
		__u64 count = 0, bucket0 = 0;

		kernel_key(&k, i);
		assert_string_equal(got[j].s.route, k.path);
		assert_int_equal(got[j].tgid, k.tgid);
		assert_int_equal(got[j].s.status, 200);
		for (int c = 0; c < nr_cpus; c++) {
			count += i + c;
			bucket0 += c % OA_NR_BUCKETS == 0 ? i + c : 0;
		}
		assert_int_equal(got[j].s.stats.count, count);
		assert_int_equal(got[j].s.stats.sum_ns, 1000 * count);
		assert_int_equal(got[j].s.stats.buckets[0], bucket0);
		assert_int_equal(got[j].s.stats.resp_body.count, nr_cpus);
		assert_int_equal(got[j].s.stats.resp_body.buckets[2], nr_cpus);
		if (j)
			assert_string_not_equal(got[j - 1].s.route, got[j].s.route);
	}
	free(got);

	/* an empty map */
	for (unsigned int i = 0; i < MAP_SERIES; i++) {
		kernel_key(&k, i);
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
	}
	assert_int_equal(read_kernel_series(fd, nr_cpus, &got, &n), 0);
	assert_int_equal(n, 0);
	free(got);
	close(fd);
	free(vals);
}

/* A pid that no longer exists: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (!pid)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

/*
 * The targets map with live and exited processes mixed: each live one is
 * listed once (target_info has one sample each), the exited ones leave the
 * map, and nothing else does.
 */
static void test_read_live_targets(void **state)
{
	pid_t live[3] = { getpid(), getppid(), 1 };
	struct oa_target *got = NULL;
	__u32 key, next, *prev = NULL;
	size_t n = 0, left = 0;
	__u8 one = 1;
	int fd;

	(void)state;
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_targets", sizeof(__u32), sizeof(__u8), 64,
			    NULL);
	if (fd < 0)
		skip(); /* not root, or no BPF */
	/* exited ones among the live ones, so that some come after a live one in any order */
	for (int i = 0; i < 3; i++) {
		key = (__u32)live[i];
		assert_int_equal(bpf_map_update_elem(fd, &key, &one, BPF_ANY), 0);
		for (int j = 0; j < 4; j++) {
			key = (__u32)dead_pid();
			assert_int_equal(bpf_map_update_elem(fd, &key, &one, BPF_ANY), 0);
		}
	}
	assert_int_equal(read_live_targets(fd, &got, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		bool known = false;

		for (int j = 0; j < 3; j++)
			known |= got[i].pid == (__u32)live[j];
		assert_true(known);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(got[j].pid, got[i].pid);
	}
	free(got);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		left++;
	}
	assert_int_equal(left, 3);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_and_ignore),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_cap_label_order),
		cmocka_unit_test(test_cap_first_seen),
		cmocka_unit_test(test_cap_stable),
		cmocka_unit_test(test_cap_per_target),
		cmocka_unit_test(test_cap_memory),
		cmocka_unit_test(test_read_kernel_series),
		cmocka_unit_test(test_read_live_targets),
		cmocka_unit_test(test_kernel_overflow_and_retired),
	};

	return cmocka_run_group_tests_name("aggregate", tests, NULL, NULL);
}
