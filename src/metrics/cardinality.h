/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The cardinality cap per target process: the registry of the label sets
 * each target was allowed to export, kept across scrapes. A label set
 * (method, status, version, error, route) admitted once stays admitted;
 * past max_per_target admitted ones, a target's new label sets fold into
 * its overflow series, for good, so no exported total ever goes back.
 */
#ifndef OA_CARDINALITY_H
#define OA_CARDINALITY_H

#include "metrics/series.h"

struct series_registry;

/* Empty; NULL with errno set when out of memory. */
struct series_registry *series_registry_new(unsigned int max_per_target);

/* Accepts NULL. */
void series_registry_free(struct series_registry *reg);

/*
 * Applies the cap to the kernel series v[0..n) of one scrape (routes
 * resolved; v is reordered): by target, equal label sets are summed into
 * one series appended to out (room for n; *nr_out counts them); new ones
 * are admitted in the order they first appeared in the kernel
 * (stats.first_ns) while the target has room; the others become overflow
 * series, which keep status and error only, their requests added to
 * *overflowed. Targets without series at this scrape are then forgotten.
 * Returns 0 or -ENOMEM.
 */
int series_registry_cap(struct series_registry *reg, unsigned long scrape, struct kernel_series **v,
			size_t n, struct oa_series *out, size_t *nr_out, __u64 *overflowed);

#endif /* OA_CARDINALITY_H */
