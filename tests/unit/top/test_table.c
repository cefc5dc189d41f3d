// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The top table: rows from two snapshots (totals, the interval's deltas,
 * shares, errors, quantiles), active requests, sorting and filtering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "top/table.h"

#define assert_close(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/* 10 ms, 100 ms, 1 s, then +Inf (bucket 3) */
static const double bounds[] = { 0.01, 0.1, 1 };

static struct oa_series mk(__u8 method, const char *route, __u16 status, __u8 version, __u8 error)
{
	struct oa_series s;

	memset(&s, 0, sizeof(s));
	s.method = method;
	s.status = status;
	s.version = version;
	s.error = error;
	strcpy(s.route, route);
	return s;
}

static struct oa_series mk_overflow(__u16 status)
{
	struct oa_series s = mk(OA_METHOD_GET, "", status, OA_HTTP_11, OA_CONN_OK);

	series_to_overflow(&s);
	return s;
}

/* count more requests in bucket b */
static struct oa_series with(struct oa_series s, int b, __u64 count)
{
	s.stats.buckets[b] += count;
	s.stats.count += count;
	s.stats.sum_ns += count * 1000;
	return s;
}

static struct oa_snapshot snap(struct oa_series *series, size_t n)
{
	struct oa_snapshot s;

	memset(&s, 0, sizeof(s));
	s.bounds = bounds;
	s.nr_bounds = 3;
	s.series = series;
	s.nr_series = n ? series_merge(series, n) : 0; /* as aggregate_snapshot leaves them */
	return s;
}

/*
 * The interval: GET /a got 12 more requests (6 ok in 100 ms, 1 ok over
 * HTTP/1.0 in 10 ms, 2 404s, 1 503 new in cur, 1 closed, 1 reset new in
 * cur), POST /b none, the overflow series 4, GET /c (new) 2.
 */
static struct oa_series prev_series[7], cur_series[10];
static struct oa_snapshot prev, cur;

static int setup(void **state)
{
	struct oa_series *p = prev_series, *c = cur_series;

	(void)state;
	p[0] = with(mk(OA_METHOD_GET, "/a", 200, OA_HTTP_11, 0), 0, 10);
	p[1] = with(mk(OA_METHOD_GET, "/a", 200, OA_HTTP_10, 0), 0, 1);
	p[2] = with(mk(OA_METHOD_GET, "/a", 404, OA_HTTP_11, 0), 1, 2);
	p[3] = with(mk(OA_METHOD_GET, "/a", 500, OA_HTTP_11, 0), 2, 1);
	p[4] = with(mk(OA_METHOD_GET, "/a", 0, OA_HTTP_11, OA_CONN_CLOSED), 3, 1);
	p[5] = with(mk(OA_METHOD_POST, "/b", 201, OA_HTTP_11, 0), 0, 5);
	p[6] = with(mk_overflow(200), 0, 3);

	c[0] = with(with(mk(OA_METHOD_GET, "/a", 200, OA_HTTP_11, 0), 0, 10), 1, 6);
	c[1] = with(mk(OA_METHOD_GET, "/a", 200, OA_HTTP_10, 0), 0, 2);
	c[2] = with(mk(OA_METHOD_GET, "/a", 404, OA_HTTP_11, 0), 1, 4);
	c[3] = with(mk(OA_METHOD_GET, "/a", 500, OA_HTTP_11, 0), 2, 1);
	c[4] = with(mk(OA_METHOD_GET, "/a", 503, OA_HTTP_11, 0), 2, 1);
	c[5] = with(mk(OA_METHOD_GET, "/a", 0, OA_HTTP_11, OA_CONN_CLOSED), 3, 2);
	c[6] = with(mk(OA_METHOD_GET, "/a", 0, OA_HTTP_11, OA_CONN_RESET), 2, 1);
	c[7] = with(mk(OA_METHOD_POST, "/b", 201, OA_HTTP_11, 0), 0, 5);
	c[8] = with(mk_overflow(200), 0, 7);
	c[9] = with(mk(OA_METHOD_GET, "/c", 200, OA_HTTP_11, 0), 0, 2);
	prev = snap(prev_series, 7);
	cur = snap(cur_series, 10);
	return 0;
}

static const struct top_row *find(const struct top_table *t, __u8 method, const char *route,
				  bool overflow)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->rows[i].overflow == overflow &&
		    (overflow || (t->rows[i].method == method && !strcmp(t->rows[i].route, route))))
			return &t->rows[i];
	fail_msg("no row %u %s%s", method, route, overflow ? " (overflow)" : "");
	return NULL;
}

static void test_build(void **state)
{
	const struct top_row *a, *b, *c, *o;
	struct top_table t;

	(void)state;
	assert_int_equal(top_table_build(&t, &prev, &cur, 2), 0);
	assert_int_equal(t.nr, 4);
	assert_close(t.interval_s, 2);

	a = find(&t, OA_METHOD_GET, "/a", false);
	assert_int_equal(a->total, 27);
	assert_int_equal(a->interval, 12);
	assert_close(a->rate, 6);
	assert_close(a->share_4xx, 2.0 / 12);
	assert_close(a->share_5xx, 1.0 / 12);
	assert_int_equal(a->errors, 2);
	/* interval buckets 1, 8, 2, 1: rank 6 is 5 of the 8 in 10..100 ms */
	assert_close(a->p50, 0.01 + 0.09 * 5 / 8);
	/* rank 10.8: 9 below, 1.8 of the 2 in 100 ms..1 s */
	assert_close(a->p90, 0.1 + 0.9 * 1.8 / 2);
	/* rank 11.88 is in +Inf */
	assert_close(a->p99, 1);
	assert_int_equal(a->active, 0);

	b = find(&t, OA_METHOD_POST, "/b", false);
	assert_int_equal(b->total, 5);
	assert_int_equal(b->interval, 0);
	assert_close(b->rate, 0);
	assert_true(isnan(b->share_4xx) && isnan(b->share_5xx));
	assert_true(isnan(b->p50) && isnan(b->p90) && isnan(b->p99));

	o = find(&t, 0, NULL, true);
	assert_int_equal(o->method, OA_METHOD_OTHER);
	assert_string_equal(o->route, "");
	assert_string_equal(top_row_route(o), "(overflow)");
	assert_int_equal(o->total, 7);
	assert_int_equal(o->interval, 4);
	assert_close(o->rate, 2);
	assert_close(o->p50, 0.005);

	/* new in cur: counted whole */
	c = find(&t, OA_METHOD_GET, "/c", false);
	assert_int_equal(c->total, 2);
	assert_int_equal(c->interval, 2);
	assert_close(c->share_4xx, 0);
	assert_close(c->p50, 0.005);

	assert_int_equal(t.all.method, OA_METHOD_OTHER);
	assert_false(t.all.overflow);
	assert_string_equal(t.all.route, "");
	assert_int_equal(t.all.total, 41);
	assert_int_equal(t.all.interval, 18);
	assert_close(t.all.rate, 9);
	assert_close(t.all.share_4xx, 2.0 / 18);
	assert_close(t.all.share_5xx, 1.0 / 18);
	assert_int_equal(t.all.errors, 2);
	/* over every row's buckets 7, 8, 2, 1: rank 9 is 2 of the 8 in 10..100 ms */
	assert_close(t.all.p50, 0.01 + 0.09 * 2 / 8);
	top_table_free(&t);
	assert_null(t.rows);
	assert_int_equal(t.nr, 0);
	top_table_free(&t);
	top_table_free(NULL);
}

static void test_build_first(void **state)
{
	const struct top_row *a;
	struct top_table t;

	(void)state;
	/* no earlier snapshot: the interval is everything so far */
	assert_int_equal(top_table_build(&t, NULL, &cur, 4), 0);
	assert_int_equal(t.nr, 4);
	a = find(&t, OA_METHOD_GET, "/a", false);
	assert_int_equal(a->total, 27);
	assert_int_equal(a->interval, 27);
	assert_close(a->rate, 27.0 / 4);
	assert_close(a->share_4xx, 4.0 / 27);
	assert_close(a->share_5xx, 2.0 / 27);
	assert_int_equal(a->errors, 3);
	assert_int_equal(t.all.interval, 41);
	top_table_free(&t);
}

static void test_build_restarted(void **state)
{
	struct oa_series p[1], c[1];
	struct oa_snapshot ps, cs;
	struct top_table t;

	(void)state;
	/* a count that went down started again: all of it is the interval's */
	p[0] = with(mk(OA_METHOD_GET, "/r", 200, OA_HTTP_11, 0), 2, 9);
	c[0] = with(mk(OA_METHOD_GET, "/r", 200, OA_HTTP_11, 0), 0, 4);
	ps = snap(p, 1);
	cs = snap(c, 1);
	assert_int_equal(top_table_build(&t, &ps, &cs, 1), 0);
	assert_int_equal(t.nr, 1);
	assert_int_equal(t.rows[0].interval, 4);
	assert_close(t.rows[0].p50, 0.005);
	top_table_free(&t);
}

static void test_build_empty(void **state)
{
	struct oa_snapshot empty = snap(NULL, 0);
	struct top_table t;

	(void)state;
	assert_int_equal(top_table_build(&t, &cur, &empty, 1), 0);
	assert_int_equal(t.nr, 0);
	assert_int_equal(t.all.total, 0);
	assert_close(t.all.rate, 0);
	assert_true(isnan(t.all.share_4xx) && isnan(t.all.p50));
	top_table_free(&t);
	/* no interval to divide by: no rate */
	assert_int_equal(top_table_build(&t, NULL, &cur, 0), 0);
	assert_true(isnan(t.all.rate) && isnan(t.rows[0].rate));
	top_table_free(&t);
	assert_int_equal(top_table_build(&t, NULL, NULL, 1), -EINVAL);
}

static void test_add_active(void **state)
{
	const struct top_row *n;
	struct top_table t;

	(void)state;
	assert_int_equal(top_table_build(&t, &prev, &cur, 2), 0);
	assert_int_equal(top_table_add_active(&t, OA_METHOD_GET, "/a", 3), 0);
	assert_int_equal(t.nr, 4);
	assert_int_equal(find(&t, OA_METHOD_GET, "/a", false)->active, 3);
	/* a route with nothing counted yet gets a row of its own */
	assert_int_equal(top_table_add_active(&t, OA_METHOD_PUT, "/new", 2), 0);
	assert_int_equal(t.nr, 5);
	n = find(&t, OA_METHOD_PUT, "/new", false);
	assert_int_equal(n->active, 2);
	assert_int_equal(n->total, 0);
	assert_int_equal(n->interval, 0);
	assert_close(n->rate, 0);
	assert_true(isnan(n->share_4xx) && isnan(n->share_5xx));
	assert_true(isnan(n->p50) && isnan(n->p90) && isnan(n->p99));
	assert_false(n->overflow);
	/* unknown methods are _OTHER, as the endpoints say; NULL is the route "" */
	assert_int_equal(top_table_add_active(&t, 200, NULL, 1), 0);
	assert_int_equal(top_table_add_active(&t, OA_METHOD_OTHER, "", 1), 0);
	assert_int_equal(t.nr, 6);
	assert_int_equal(find(&t, OA_METHOD_OTHER, "", false)->active, 2);
	assert_int_equal(t.all.active, 7);
	assert_int_equal(t.all.total, 41);
	top_table_free(&t);
}

/* The rows in order, as "GET /a|(overflow)|...". */
static const char *order(const struct top_table *t)
{
	static char buf[512];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < t->nr; i++) {
		const struct top_row *r = &t->rows[i];
		static const char *const m[] = {
			[OA_METHOD_GET] = "GET", [OA_METHOD_POST] = "POST", [OA_METHOD_PUT] = "PUT"
		};

		if (r->overflow)
			len += snprintf(buf + len, sizeof(buf) - len, "%s(overflow)", i ? "|" : "");
		else
			len += snprintf(buf + len, sizeof(buf) - len, "%s%s %s", i ? "|" : "",
					m[r->method], r->route);
	}
	return buf;
}

/* The table of test_build with active requests on GET /a (3), PUT /new (2), POST /a (1). */
static void sortable(struct top_table *t)
{
	assert_int_equal(top_table_build(t, &prev, &cur, 2), 0);
	assert_int_equal(top_table_add_active(t, OA_METHOD_GET, "/a", 3), 0);
	assert_int_equal(top_table_add_active(t, OA_METHOD_PUT, "/new", 2), 0);
	assert_int_equal(top_table_add_active(t, OA_METHOD_POST, "/a", 1), 0);
}

static void test_sort(void **state)
{
	static const struct {
		enum top_column by;
		bool reverse;
		const char *want;
	} cases[] = {
		/* rates 6, 2, 1, then 0s by route then method */
		{ TOP_COL_RATE, false, "GET /a|(overflow)|GET /c|POST /a|POST /b|PUT /new" },
		{ TOP_COL_RATE, true, "POST /a|POST /b|PUT /new|GET /c|(overflow)|GET /a" },
		{ TOP_COL_TOTAL, false, "GET /a|(overflow)|POST /b|GET /c|POST /a|PUT /new" },
		{ TOP_COL_TOTAL, true, "POST /a|PUT /new|GET /c|POST /b|(overflow)|GET /a" },
		/* NAN (no requests in the interval) last either way */
		{ TOP_COL_4XX, false, "GET /a|GET /c|(overflow)|POST /a|POST /b|PUT /new" },
		{ TOP_COL_4XX, true, "GET /c|(overflow)|GET /a|POST /a|POST /b|PUT /new" },
		{ TOP_COL_5XX, false, "GET /a|GET /c|(overflow)|POST /a|POST /b|PUT /new" },
		{ TOP_COL_ERRORS, false, "GET /a|POST /a|POST /b|GET /c|PUT /new|(overflow)" },
		{ TOP_COL_P50, false, "GET /a|GET /c|(overflow)|POST /a|POST /b|PUT /new" },
		{ TOP_COL_P50, true, "GET /c|(overflow)|GET /a|POST /a|POST /b|PUT /new" },
		{ TOP_COL_P90, false, "GET /a|GET /c|(overflow)|POST /a|POST /b|PUT /new" },
		{ TOP_COL_P99, true, "GET /c|(overflow)|GET /a|POST /a|POST /b|PUT /new" },
		{ TOP_COL_ACTIVE, false, "GET /a|PUT /new|POST /a|POST /b|GET /c|(overflow)" },
		{ TOP_COL_ACTIVE, true, "POST /b|GET /c|(overflow)|POST /a|PUT /new|GET /a" },
		{ TOP_COL_ROUTE, false, "GET /a|POST /a|POST /b|GET /c|PUT /new|(overflow)" },
		{ TOP_COL_ROUTE, true, "(overflow)|PUT /new|GET /c|POST /b|POST /a|GET /a" },
	};
	struct top_table t;

	(void)state;
	sortable(&t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		top_table_sort(&t, cases[i].by, cases[i].reverse);
		if (strcmp(order(&t), cases[i].want))
			fail_msg("sort by %s%s: want %s got %s", top_column_name(cases[i].by),
				 cases[i].reverse ? " reversed" : "", cases[i].want, order(&t));
	}
	top_table_free(&t);
}

static void test_filter(void **state)
{
	struct top_table t;

	(void)state;
	sortable(&t);
	top_table_sort(&t, TOP_COL_ROUTE, false);
	top_table_filter(&t, NULL);
	assert_int_equal(t.nr, 6);
	top_table_filter(&t, "");
	assert_int_equal(t.nr, 6);
	top_table_filter(&t, "/a");
	assert_string_equal(order(&t), "GET /a|POST /a");
	assert_int_equal(t.all.total, 41); /* the totals stay */
	assert_int_equal(t.all.active, 6);
	top_table_filter(&t, "/b");
	assert_int_equal(t.nr, 0);
	top_table_free(&t);

	sortable(&t);
	top_table_sort(&t, TOP_COL_ROUTE, false);
	top_table_filter(&t, "overflow");
	assert_string_equal(order(&t), "(overflow)");
	top_table_free(&t);
}

static void test_column_names(void **state)
{
	static const char *const want[TOP_COL_COUNT] = { "req/s",  "total", "4xx", "5xx",
							 "errors", "p50",   "p90", "p99",
							 "active", "route" };

	(void)state;
	for (int c = 0; c < TOP_COL_COUNT; c++)
		assert_string_equal(top_column_name(c), want[c]);
	assert_null(top_column_name(TOP_COL_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),		cmocka_unit_test(test_build_first),
		cmocka_unit_test(test_build_restarted), cmocka_unit_test(test_build_empty),
		cmocka_unit_test(test_add_active),	cmocka_unit_test(test_sort),
		cmocka_unit_test(test_filter),		cmocka_unit_test(test_column_names),
	};

	return cmocka_run_group_tests_name("table", tests, setup, NULL);
}
