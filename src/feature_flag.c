// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The FEATURE_OTEL switch: which values enable it and which source wins
 * (the agent's option, else the agent's environment, else the target's).
 * Safe by default, as the in-process plugin was: unset means disabled.
 */
#include <errno.h>
#include <stddef.h>
#include <strings.h>
#include "feature_flag.h"

int flag_parse_value(const char *value)
{
	static const char *const on[] = { "true", "1", "yes", "on" };
	static const char *const off[] = { "false", "0", "no", "off" };

	if (!value)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (!strcasecmp(value, on[i]))
			return 1;
		if (!strcasecmp(value, off[i]))
			return 0;
	}
	return -EINVAL;
}

static bool is_set(const char *value)
{
	return value && value[0];
}

struct flag_decision flag_resolve(const char *option, const char *agent_env, const char *target_env)
{
	struct flag_decision d = { .enabled = false, .source = FLAG_FROM_DEFAULT };
	const char *value = NULL;

	if (is_set(option)) {
		d.source = FLAG_FROM_OPTION;
		value = option;
	} else if (is_set(agent_env)) {
		d.source = FLAG_FROM_AGENT_ENV;
		value = agent_env;
	} else if (is_set(target_env)) {
		d.source = FLAG_FROM_TARGET_ENV;
		value = target_env;
	}
	d.enabled = flag_parse_value(value) == 1;
	return d;
}

const char *flag_source_name(enum flag_source source)
{
	switch (source) {
	case FLAG_FROM_OPTION:
		return "the --feature-otel option";
	case FLAG_FROM_AGENT_ENV:
		return "the agent's FEATURE_OTEL";
	case FLAG_FROM_TARGET_ENV:
		return "the target's FEATURE_OTEL";
	case FLAG_FROM_DEFAULT:
		break;
	}
	return "unset in the agent's and the target's environment";
}
