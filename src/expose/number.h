/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns numbers as exposition text: a duration sum in seconds, and a bucket
 * bound (le) in the form each format's own clients write it.
 */
#ifndef OA_EXPOSE_NUMBER_H
#define OA_EXPOSE_NUMBER_H

#include <stddef.h>
#include <linux/types.h>

#include "expose/render.h"

/* Room for any double in %.17g or JavaScript form, and any __u64. */
#define NUM_LEN 48

/*
 * ns / 1e9 in the shortest of %.15g..%.17g that reads back as the same
 * double; buf has n bytes (NUM_LEN for the fast path).
 */
void fmt_seconds(char *buf, size_t n, __u64 ns);

/*
 * A bound as le: JavaScript's Number.prototype.toString in Prometheus text
 * (prom-client wrote le so: 1, 0.005, 1e+21), OpenMetrics' canonical form
 * otherwise (1.0, 0.005, 1e+06); +Inf for infinity.
 */
void fmt_le(char *buf, size_t n, double v, enum oa_format fmt);

#endif /* OA_EXPOSE_NUMBER_H */
