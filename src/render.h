/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the Prometheus text exposition (format 0.0.4) of a snapshot: the
 * OpenTelemetry names for /metrics/otel, the old prom-client plugin's names
 * for /metrics, and the agent's self-metrics at the end of both.
 */
#ifndef OA_RENDER_H
#define OA_RENDER_H

#include <stdio.h>

#include "series.h"

/*
 * Both return 0, or -1 with errno set: EINVAL when the snapshot is malformed
 * or lacks one of the endpoint's bucket bounds (checked before anything is
 * written), ENOMEM, or the stream's error when writing failed.
 */
int render_otel(const struct oa_snapshot *s, FILE *out);
int render_plugin(const struct oa_snapshot *s, FILE *out);

#endif /* OA_RENDER_H */
