/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The FEATURE_OTEL switch: which values enable it and which source wins
 * (the agent's option, else the agent's environment, else the target's).
 */
#ifndef OA_FEATURE_FLAG_H
#define OA_FEATURE_FLAG_H

#include <stdbool.h>

enum flag_source {
	FLAG_FROM_OPTION,
	FLAG_FROM_AGENT_ENV,
	FLAG_FROM_TARGET_ENV,
	FLAG_FROM_DEFAULT,
};

struct flag_decision {
	bool enabled;
	enum flag_source source;
};

/* true/1/yes/on (any case) -> 1, false/0/no/off -> 0, anything else -> -EINVAL. */
int flag_parse_value(const char *value);

/*
 * Each argument is the value from that source, or NULL when the source does
 * not set it (an empty string counts as not set). A set value that is not
 * an enabling value disables.
 */
struct flag_decision flag_resolve(const char *option, const char *agent_env,
				  const char *target_env);

const char *flag_source_name(enum flag_source source);

#endif /* OA_FEATURE_FLAG_H */
