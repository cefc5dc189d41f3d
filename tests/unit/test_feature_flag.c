// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The FEATURE_OTEL flag: accepted values, precedence, the target environment, the options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cli.h"
#include "feature_flag.h"
#include "targets.h"

static void test_values(void **state)
{
	(void)state;
	assert_int_equal(flag_parse_value("true"), 1);
	assert_int_equal(flag_parse_value("TRUE"), 1);
	assert_int_equal(flag_parse_value("1"), 1);
	assert_int_equal(flag_parse_value("Yes"), 1);
	assert_int_equal(flag_parse_value("oN"), 1);
	assert_int_equal(flag_parse_value("false"), 0);
	assert_int_equal(flag_parse_value("0"), 0);
	assert_int_equal(flag_parse_value("NO"), 0);
	assert_int_equal(flag_parse_value("off"), 0);
	assert_int_equal(flag_parse_value("enabled"), -1);
	assert_int_equal(flag_parse_value("true "), -1);
	assert_int_equal(flag_parse_value(""), -1);
	assert_int_equal(flag_parse_value(NULL), -1);
}

static void test_precedence(void **state)
{
	struct flag_decision d;

	(void)state;
	d = flag_resolve(NULL, NULL, NULL);
	assert_false(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_DEFAULT);

	d = flag_resolve(NULL, NULL, "true");
	assert_true(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_TARGET_ENV);

	/* the agent's environment beats the target's, either way */
	d = flag_resolve(NULL, "0", "true");
	assert_false(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_AGENT_ENV);
	d = flag_resolve(NULL, "on", "false");
	assert_true(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_AGENT_ENV);

	/* the option beats both */
	d = flag_resolve("false", "true", "true");
	assert_false(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_OPTION);
	d = flag_resolve("yes", "false", "false");
	assert_true(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_OPTION);

	/* empty counts as unset; an unrecognised value disables (safe by default) */
	d = flag_resolve("", "", "1");
	assert_true(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_TARGET_ENV);
	d = flag_resolve(NULL, "maybe", "true");
	assert_false(d.enabled);
	assert_int_equal(d.source, FLAG_FROM_AGENT_ENV);
}

static void test_environ_find(void **state)
{
	static const char block[] =
		"PATH=/bin\0FEATURE_OTEL_X=1\0FEATURE_OTEL=true\0EMPTY=\0LAST=z";
	size_t len = sizeof(block) - 1;

	(void)state;
	assert_string_equal(environ_find(block, len, "FEATURE_OTEL"), "true");
	assert_string_equal(environ_find(block, len, "PATH"), "/bin");
	assert_string_equal(environ_find(block, len, "EMPTY"), "");
	assert_null(environ_find(block, len, "FEATURE"));
	assert_null(environ_find(block, len, "MISSING"));
	/* the last entry has no terminating NUL inside len */
	assert_memory_equal(environ_find(block, len, "LAST"), "z", 1);
	assert_null(environ_find(block, 0, "PATH"));
}

static void test_cli(void **state)
{
	char *ok[] = { "otel-agent",	    "--pid", "12", "-p", "34", "--listen", "[::1]:9000",
		       "--feature-otel=on", "-v",    NULL };
	char *no_pid[] = { "otel-agent", "-v", NULL };
	char *bad_pid[] = { "otel-agent", "--pid", "12x", NULL };
	char *bad_flag[] = { "otel-agent", "--pid", "1", "--feature-otel=perhaps", NULL };
	char *unknown[] = { "otel-agent", "--pid", "1", "--frobnicate", NULL };
	char *missing[] = { "otel-agent", "--pid", NULL };
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(9, ok, &o), CLI_OK);
	assert_int_equal(o.nr_pids, 2);
	assert_int_equal(o.pids[0], 12);
	assert_int_equal(o.pids[1], 34);
	assert_string_equal(o.listen, "[::1]:9000");
	assert_string_equal(o.feature_otel, "on");
	assert_true(o.verbose);

	assert_int_equal(cli_parse(2, no_pid, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(3, bad_pid, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(4, bad_flag, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(4, unknown, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(2, missing, &o), CLI_USAGE_ERROR);
}

static void test_cli_defaults(void **state)
{
	char *argv[] = { "otel-agent", "--pid", "7", NULL };
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(3, argv, &o), CLI_OK);
	assert_string_equal(o.listen, OA_DEFAULT_LISTEN);
	assert_null(o.feature_otel);
	assert_false(o.verbose);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),	     cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_environ_find), cmocka_unit_test(test_cli),
		cmocka_unit_test(test_cli_defaults),
	};

	return cmocka_run_group_tests_name("feature_flag", tests, NULL, NULL);
}
