/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the exposition of a snapshot: the OpenTelemetry names for
 * /metrics/otel (Prometheus text 0.0.4 or OpenMetrics 1.0.0), the old
 * prom-client plugin's names for /metrics (Prometheus text 0.0.4 only), and
 * the agent's self-metrics at the end of both. Implemented by otel.c and
 * plugin.c; the other files of src/expose are theirs alone.
 */
#ifndef OA_RENDER_H
#define OA_RENDER_H

#include <stdio.h>

#include "metrics/series.h"

/* The instrumentation scope of the OpenTelemetry families (otel_scope_name). */
#define OA_SCOPE_NAME "otel-agent"

enum oa_format {
	OA_FORMAT_PROMETHEUS,  /* text/plain; version=0.0.4 */
	OA_FORMAT_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/*
 * All return 0, or a negative errno: -EINVAL when the snapshot is malformed
 * or lacks one of the endpoint's bucket bounds (checked before anything is
 * written), -ENOMEM, or -EIO when writing failed.
 */
int render_otel_as(const struct oa_snapshot *s, enum oa_format fmt, FILE *out);
/*
 * Always Prometheus text: the plugin served nothing else, and the bytes
 * Prometheus stores (le="1", not OpenMetrics' le="1.0") must stay the same.
 */
int render_plugin(const struct oa_snapshot *s, FILE *out);

#endif /* OA_RENDER_H */
