/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reads the kernel maps into a snapshot: per-CPU values summed, paths turned
 * into routes, ignored routes counted and left out, the cardinality cap per
 * target applied, series merged over targets.
 */
#ifndef OA_AGGREGATE_H
#define OA_AGGREGATE_H

#include <pthread.h>
#include "kernel/loader.h"
#include "metrics/retire.h"
#include "metrics/retired.h"
#include "metrics/route.h"
#include "metrics/series.h"

struct route_memo;
struct series_registry;

/*
 * State kept across scrapes: the routes of the kernel's paths
 * (route_memo.h) and the label sets each target process was allowed to
 * export (cardinality.h). Past max_per_target admitted label sets, a
 * target's new ones fold into its overflow series, for good. The overflow
 * series (oa_series.overflow) keep status and error, so that the renderer
 * can still tell answered and failed requests apart (on /metrics), and
 * clear method, version and route; all of them are exported as one series
 * per family labelled otel_metric_overflow="true".
 */
struct aggregator {
	const struct route_rules *rules; /* NULL: the heuristic only, nothing ignored */
	unsigned long scrape;		 /* counts calls of aggregate_series */
	struct route_memo *memo;
	struct series_registry *registry;
	struct retired retired;	   /* what left the kernel maps, as exported */
	struct retire_watch watch; /* when live series last changed */
	size_t map_max;		   /* the series map's size (--max-series) */
	pthread_mutex_t lock;	   /* aggregate_snapshot: scrapes and the main thread's passes */
};

/*
 * rules must outlive agg; map_max is the series map's size (0: the
 * default), which also bounds the label sets kept of retired series.
 * Returns 0 or -ENOMEM.
 */
int aggregator_init(struct aggregator *agg, const struct route_rules *rules,
		    unsigned int max_per_target, size_t map_max);
/* Accepts a zeroed or freed agg. */
void aggregator_free(struct aggregator *agg);

/*
 * Turns the kernel series in[0..n) into snap->series (allocated; freed by
 * snapshot_free): routes resolved, ignored ones counted in
 * snap->requests_ignored, the cap applied (requests folded counted in
 * snap->series_overflowed), then merged over targets. in is reordered and
 * its routes rewritten, and each one's exported form set (s.overflow,
 * ignored) for retire_choose; the retired store's series are merged in.
 * The result depends only on the kernel series, the registry and the
 * retired store, so scrapes agree with each other. Returns 0 or -ENOMEM.
 */
int aggregate_series(struct aggregator *agg, struct kernel_series *in, size_t n,
		     struct oa_snapshot *snap);

/*
 * Reads the kernel's series map (fd; per-CPU values over nr_cpus) into *out
 * (allocated, *n series), each one's per-CPU values summed: in batches of
 * keys, or key by key where the kernel has no batch lookups for the map.
 * Returns 0 or a negative errno.
 */
int read_kernel_series(int fd, int nr_cpus, struct kernel_series **out, size_t *n);

/*
 * The live processes of the targets map (fd) into *out (allocated, *n of
 * them, each listed once; service names not filled); the ones that no
 * longer exist are deleted from the map, after the walk. 0 or -errno.
 */
int read_live_targets(int fd, struct oa_target **out, size_t *n);

/*
 * Fills snap from the agent's maps (snap owns its arrays until
 * snapshot_free), then retires what the kernel need not hold any more
 * (retire.h): the series and client series of targets that are gone, idle
 * folded series. Safe to call from several threads.
 */
int aggregate_snapshot(struct aggregator *agg, struct loader *a, struct oa_snapshot *snap);

void snapshot_free(struct oa_snapshot *snap);

#endif /* OA_AGGREGATE_H */
