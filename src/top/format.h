/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns what `otel-agent top` prints without a screen: the table with its
 * header lines as plain text (--once, and what a screen draws), and as one
 * JSON document per interval (--json).
 */
#ifndef OA_TOP_FORMAT_H
#define OA_TOP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "metrics/series.h"
#include "top/table.h"

/* What the header lines show. */
struct top_header {
	const struct oa_target *targets; /* pid, service_name */
	size_t nr_targets;
	const char *const *target_names; /* comm per target, may be NULL (and each of them) */
	const __u64 *events;		 /* snapshot events[OA_EV_COUNT]; NULL: all 0 */
	const __u64 *map_errors;	 /* snapshot map_errors[OA_ERR_COUNT]; NULL: all 0 */
	enum top_column sort;
	bool reverse;
	const char *filter; /* NULL or "": none */
	bool paused;
};

/*
 * The header lines then the table, plain text, lines at most width columns (route
 * column shrinks, cut with "~" at its end; width 0: no limit; a line still too
 * long is cut the same way). No escape codes: a byte that is not printable
 * ASCII (in a route, a comm, a service name) is shown as '?'. The totals row
 * is the header's second line, not a row; the overflow row's method is "-".
 * 0 or -errno (-EIO: out failed).
 */
int top_format_text(FILE *out, const struct top_table *t, const struct top_header *h, int width);

/*
 * One JSON document on one line (then '\n'), rows in the table's order:
 * {"time":T,"interval_s":S,"quantiles":"histogram_quantile",
 *  "targets":[{"pid":P,"name":COMM|null,"service_name":S}],
 *  "totals":{"requests":N,"interval_requests":I,"rate":R,"active":A,"share_4xx":x,
 *            "share_5xx":y,"errors":E,"p50_s":..,"p90_s":..,"p99_s":..},
 *  "agent":{"requests_dropped":D,"map_update_errors":M,"not_http_connections":H,
 *           "unmatched_responses":U},
 *  "rows":[{"method":"GET","route":"/hello","overflow":false,"total":..,
 *           "interval_requests":..,"rate":..,"share_4xx":..,"share_5xx":..,"errors":..,
 *           "p50_s":..,"p90_s":..,"p99_s":..,"active":..}]}
 * NAN (and any number not finite) is null; the overflow row's route is "".
 * Strings are escaped; bytes that are not UTF-8 become U+FFFD. 0 or -errno.
 */
int top_format_json(FILE *out, const struct top_table *t, const struct top_header *h,
		    double unix_time);

#endif /* OA_TOP_FORMAT_H */
