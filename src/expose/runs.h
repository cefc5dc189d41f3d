/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns which series become one exported series: the snapshot's series in
 * export order (series_cmp), runs of neighbours whose exported labels are
 * equal summed into one, and the overflow series summed per family.
 */
#ifndef OA_EXPOSE_RUNS_H
#define OA_EXPOSE_RUNS_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics/series.h"

/* The status from which a server response is an error (error_type, errorType). */
#define SERVER_ERROR_FROM 500

/* Whether two series have the same labels in a family (non-zero: they are summed). */
typedef int (*same_fn)(const struct oa_series *a, const struct oa_series *b);
/* Whether a family counts the requests of a series at all. */
typedef bool (*keep_fn)(const struct oa_series *s);

/* Same method and route: the plugin's duration histogram. */
int same_route(const struct oa_series *a, const struct oa_series *b);
/* Same method, route, status and error: the plugin's counters. */
int same_status(const struct oa_series *a, const struct oa_series *b);
/* Same OpenTelemetry labels: same_status and the version as exported. */
int same_labels_otel(const struct oa_series *a, const struct oa_series *b);

bool keep_all(const struct oa_series *s);
/* Requests with a response (a status). */
bool keep_answered(const struct oa_series *s);
/* What the plugin counted as errors: 5xx, and requests ended by a close or reset. */
bool keep_failed(const struct oa_series *s);

/*
 * A sorted index of s's series (NULL when there are none), so output is
 * stable and equal label sets are adjacent; *nr_regular is where the
 * overflow series begin. 0, or -ENOMEM.
 */
int sort_series(const struct oa_snapshot *s, const struct oa_series ***sorted, size_t *nr_regular);

/*
 * Sums v[i..] while same() holds into acc; returns the index after the run.
 * answered_only leaves out requests that ended without a response; acc->error
 * is then set only when the run has nothing else.
 */
size_t sum_run(const struct oa_series **v, size_t i, size_t n, same_fn same, bool answered_only,
	       struct oa_series *acc);

/*
 * The run at v[i] as sum_run sums it, into acc only when it has more than
 * one series; *next is the index after the run.
 */
const struct oa_series *run_of(const struct oa_series **v, size_t i, size_t n, same_fn same,
			       bool answered_only, struct oa_series *acc, size_t *next);

/* Sums the overflow series v[from..n) that keep() takes into acc; false if it takes none. */
bool sum_overflow(const struct oa_series **v, size_t from, size_t n, keep_fn keep,
		  struct oa_series *acc);

#endif /* OA_EXPOSE_RUNS_H */
