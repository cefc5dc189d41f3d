/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Owns the agent's self-metrics (otel_agent_*), the last families of both endpoints. */
#ifndef OA_EXPOSE_SELF_METRICS_H
#define OA_EXPOSE_SELF_METRICS_H

#include "expose/expo.h"

void put_self_metrics(struct expo *e, const struct oa_snapshot *s);

#endif /* OA_EXPOSE_SELF_METRICS_H */
