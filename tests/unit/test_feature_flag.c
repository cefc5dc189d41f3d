// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The FEATURE_OTEL flag: accepted values, precedence, the target environment, the options
 * (--pid, --port, --comm, --exe, --route, --ignore, --config and the others among them). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "cli.h"
#include "feature_flag.h"
#include "otel_agent.h"
#include "targets/proc.h"

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
	assert_int_equal(flag_parse_value("enabled"), -EINVAL);
	assert_int_equal(flag_parse_value("true "), -EINVAL);
	assert_int_equal(flag_parse_value(""), -EINVAL);
	assert_int_equal(flag_parse_value(NULL), -EINVAL);
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
	assert_int_equal(o.sel.nr_pids, 2);
	assert_int_equal(o.sel.pids[0], 12);
	assert_int_equal(o.sel.pids[1], 34);
	assert_string_equal(o.listen, "[::1]:9000");
	assert_string_equal(o.feature_otel, "on");
	assert_true(o.verbose);

	assert_int_equal(cli_parse(2, no_pid, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(3, bad_pid, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(4, bad_flag, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(4, unknown, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(2, missing, &o), CLI_USAGE_ERROR);
}

/* otel-agent top: its options, and the options that belong to one mode only. */
static void test_cli_top(void **state)
{
	char *top[] = { "otel-agent", "top", "--pid", "7", "-d", "0.5", "--once", "--json" };
	char *plain[] = { "otel-agent", "top", "--comm", "core" };
	char *agent_d[] = { "otel-agent", "--pid", "7", "-d", "2" };
	char *agent_once[] = { "otel-agent", "--pid", "7", "--once" };
	char *top_listen[] = { "otel-agent", "top", "--pid", "7", "--listen", "127.0.0.1:1" };
	char *top_user[] = { "otel-agent", "top", "--pid", "7", "--user", "nobody" };
	char *zero[] = { "otel-agent", "top", "--pid", "7", "-d", "0" };
	char *word[] = { "otel-agent", "top", "--pid", "7", "-d", "1s" };
	char *no_target[] = { "otel-agent", "top" };
	char *late_top[] = { "otel-agent", "--pid", "7", "top" };
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(8, top, &o), CLI_OK);
	assert_true(o.top.enabled);
	assert_int_equal(o.sel.nr_pids, 1);
	assert_int_equal(o.sel.pids[0], 7);
	assert_true(o.top.delay_s > 0.49 && o.top.delay_s < 0.51);
	assert_true(o.top.once);
	assert_true(o.top.json);
	assert_int_equal(cli_parse(4, plain, &o), CLI_OK);
	assert_true(o.top.enabled);
	assert_true(o.top.delay_s > 0.99 && o.top.delay_s < 1.01);
	assert_false(o.top.once || o.top.json);

	assert_int_equal(cli_parse(5, agent_d, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(4, agent_once, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(6, top_listen, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(6, top_user, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(6, zero, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(6, word, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(2, no_target, &o), CLI_USAGE_ERROR);
	/* top is a word only in the first place */
	assert_int_equal(cli_parse(4, late_top, &o), CLI_USAGE_ERROR);
}

static void test_cli_selectors(void **state)
{
	char *all[] = { "otel-agent",
			"--port",
			"8900",
			"--comm",
			"core",
			"--exe",
			"/usr/bin/node",
			"--port",
			"9000",
			"-p",
			"5",
			"--comm",
			"metasheet-core-server",
			NULL };
	char *port_only[] = { "otel-agent", "--port", "65535", NULL };
	char *comm_only[] = { "otel-agent", "--comm", "node", NULL };
	char *exe_only[] = { "otel-agent", "--exe", "/tmp/py", NULL };
	char *bad[][4] = {
		{ "otel-agent", "--port", "0", NULL },
		{ "otel-agent", "--port", "65536", NULL },
		{ "otel-agent", "--port", "80x", NULL },
		{ "otel-agent", "--port", "-1", NULL },
		{ "otel-agent", "--comm", "", NULL },
		{ "otel-agent", "--exe", "bin/node", NULL },
		{ "otel-agent", "--exe", "", NULL },
		{ "otel-agent", "--port", NULL, NULL },
	};
	char long_exe[OA_MAX_EXE + 8];
	char *too_long[] = { "otel-agent", "--exe", long_exe, NULL };
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(13, all, &o), CLI_OK);
	assert_int_equal(o.sel.nr_ports, 2);
	assert_int_equal(o.sel.ports[0], 8900);
	assert_int_equal(o.sel.ports[1], 9000);
	assert_int_equal(o.sel.nr_comms, 2);
	assert_string_equal(o.sel.comms[0], "core");
	/* longer than 15 characters is allowed: the loader matches the first 15 */
	assert_string_equal(o.sel.comms[1], "metasheet-core-server");
	assert_int_equal(o.sel.nr_exes, 1);
	assert_string_equal(o.sel.exes[0], "/usr/bin/node");
	assert_int_equal(o.sel.nr_pids, 1);
	assert_int_equal(o.sel.pids[0], 5);

	/* any one selector is a target; --pid is not required */
	assert_int_equal(cli_parse(3, port_only, &o), CLI_OK);
	assert_int_equal(o.sel.nr_ports, 1);
	assert_int_equal(o.sel.ports[0], 65535);
	assert_int_equal(o.sel.nr_pids, 0);
	assert_int_equal(cli_parse(3, comm_only, &o), CLI_OK);
	assert_int_equal(o.sel.nr_comms, 1);
	assert_int_equal(cli_parse(3, exe_only, &o), CLI_OK);
	assert_int_equal(o.sel.nr_exes, 1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cli_parse(bad[i][2] ? 3 : 2, bad[i], &o), CLI_USAGE_ERROR);

	/* at most OA_MAX_EXE - 2 bytes: the kernel compares that many and a NUL */
	memset(long_exe, 'a', sizeof(long_exe));
	long_exe[0] = '/';
	long_exe[OA_MAX_EXE - 2] = '\0';
	assert_int_equal(cli_parse(3, too_long, &o), CLI_OK);
	long_exe[OA_MAX_EXE - 2] = 'a';
	long_exe[OA_MAX_EXE - 1] = '\0';
	assert_int_equal(cli_parse(3, too_long, &o), CLI_USAGE_ERROR);
}

static void test_cli_too_many(void **state)
{
	char *argv[2 * OA_MAX_PORTS + 4];
	struct options o;
	int argc = 0;

	(void)state;
	argv[argc++] = "otel-agent";
	for (int i = 0; i < OA_MAX_PORTS; i++) {
		argv[argc++] = "--port";
		argv[argc++] = "8080";
	}
	argv[argc] = NULL;
	assert_int_equal(cli_parse(argc, argv, &o), CLI_OK);
	assert_int_equal(o.sel.nr_ports, OA_MAX_PORTS);
	argv[argc++] = "--port";
	argv[argc++] = "8081";
	argv[argc] = NULL;
	assert_int_equal(cli_parse(argc, argv, &o), CLI_USAGE_ERROR);
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

/* --listen is checked while parsing, before anything is loaded: form and port range. */
static void test_cli_listen(void **state)
{
	static const char *const good[] = { "127.0.0.1:9464", "[::1]:1", "0.0.0.0:65535",
					    "127.0.0.1:0" };
	static const char *const bad[] = {
		"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:-1",  "127.0.0.1:+80", "9464",
		"127.0.0.1:",	   "[::1:9464",	      "127.0.0.1:http"
	};
	char *argv[] = { "otel-agent", "--pid", "7", "--listen", NULL, NULL };
	struct options o;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		argv[4] = (char *)good[i];
		assert_int_equal(cli_parse(5, argv, &o), CLI_OK);
		assert_string_equal(o.listen, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[4] = (char *)bad[i];
		if (cli_parse(5, argv, &o) != CLI_USAGE_ERROR)
			fail_msg("--listen '%s' was accepted", bad[i]);
	}
}

static void test_cli_map_limits(void **state)
{
	char *ok[] = { "otel-agent",	    "--pid",   "1", "--max-series", "100",
		       "--max-connections", "4194304", NULL };
	char *zero[] = { "otel-agent", "--pid", "1", "--max-series", "0", NULL };
	char *big[] = { "otel-agent", "--pid", "1", "--max-connections", "4194305", NULL };
	char *neg[] = { "otel-agent", "--pid", "1", "--max-series", "-5", NULL };
	char *junk[] = { "otel-agent", "--pid", "1", "--max-series", "12k", NULL };
	char *none[] = { "otel-agent", "--pid", "1", NULL };
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(7, ok, &o), CLI_OK);
	assert_int_equal(o.limits.max_series, 100);
	assert_int_equal(o.limits.max_connections, 4194304);
	assert_int_equal(cli_parse(5, zero, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(5, big, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(5, neg, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(5, junk, &o), CLI_USAGE_ERROR);
	assert_int_equal(cli_parse(3, none, &o), CLI_OK);
	assert_int_equal(o.limits.max_series, 0);
	assert_int_equal(o.limits.max_connections, 0);
}

static void test_cli_export(void **state)
{
	char *ok[] = { "otel-agent",
		       "--pid",
		       "1",
		       "--config",
		       "/etc/otel-agent.conf",
		       "--route",
		       "/api/users/{id}",
		       "--ignore",
		       "/healthz",
		       "--route",
		       "/api/users/me",
		       "--ignore",
		       "/internal/*",
		       "--max-series-per-target",
		       "5",
		       "--buckets-otel",
		       "0.002,0.02,0.2",
		       "--buckets-plugin=0.5, 5",
		       NULL };
	char *none[] = { "otel-agent", "--pid", "1", NULL };
	char *bad[][4] = {
		{ "--route", "api/users", NULL, NULL },
		{ "--route", "/api/users/{id", NULL, NULL },
		{ "--route", "/a?b", NULL, NULL },
		{ "--route", "", NULL, NULL },
		{ "--ignore", "", NULL, NULL },
		{ "--ignore", "/a b", NULL, NULL },
		{ "--config", "", NULL, NULL },
		{ "--max-series-per-target", "0", NULL, NULL },
		{ "--max-series-per-target", "x", NULL, NULL },
		{ "--buckets-otel", "0.1,0.1", NULL, NULL },
		{ "--buckets-otel", "", NULL, NULL },
		{ "--buckets-plugin", "1,+Inf", NULL, NULL },
		{ "--buckets-plugin", "-1", NULL, NULL },
	};
	struct options o;

	(void)state;
	assert_int_equal(cli_parse(18, ok, &o), CLI_OK);
	assert_string_equal(o.exp.config, "/etc/otel-agent.conf");
	assert_int_equal(o.exp.nr_routes, 2);
	assert_string_equal(o.exp.routes[0], "/api/users/{id}");
	assert_string_equal(o.exp.routes[1], "/api/users/me");
	assert_int_equal(o.exp.nr_ignores, 2);
	assert_string_equal(o.exp.ignores[1], "/internal/*");
	assert_int_equal(o.exp.max_series_per_target, 5);
	assert_int_equal(o.exp.nr_buckets_otel, 3);
	assert_true(o.exp.buckets_otel[1] == 0.02);
	assert_int_equal(o.exp.nr_buckets_plugin, 2);
	assert_true(o.exp.buckets_plugin[1] == 5);

	assert_int_equal(cli_parse(3, none, &o), CLI_OK);
	assert_null(o.exp.config);
	assert_int_equal(o.exp.nr_routes, 0);
	assert_int_equal(o.exp.nr_ignores, 0);
	assert_int_equal(o.exp.max_series_per_target, 0);
	assert_int_equal(o.exp.nr_buckets_otel, 0);
	assert_int_equal(o.exp.nr_buckets_plugin, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { "otel-agent", "--pid", "1", bad[i][0], bad[i][1], NULL };

		if (cli_parse(5, argv, &o) != CLI_USAGE_ERROR)
			fail_msg("%s '%s': want a usage error", bad[i][0], bad[i][1]);
	}
}

static void test_cli_too_many_routes(void **state)
{
	char *argv[2 * OA_MAX_ROUTE_OPTS + 6];
	struct options o;
	int argc = 0;

	(void)state;
	argv[argc++] = "otel-agent";
	argv[argc++] = "--pid";
	argv[argc++] = "1";
	for (int i = 0; i < OA_MAX_ROUTE_OPTS; i++) {
		argv[argc++] = "--route";
		argv[argc++] = "/a/{b}";
	}
	argv[argc] = NULL;
	assert_int_equal(cli_parse(argc, argv, &o), CLI_OK);
	assert_int_equal(o.exp.nr_routes, OA_MAX_ROUTE_OPTS);
	argv[argc++] = "--route";
	argv[argc++] = "/c";
	argv[argc] = NULL;
	assert_int_equal(cli_parse(argc, argv, &o), CLI_USAGE_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_environ_find),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_cli_top),
		cmocka_unit_test(test_cli_selectors),
		cmocka_unit_test(test_cli_too_many),
		cmocka_unit_test(test_cli_defaults),
		cmocka_unit_test(test_cli_map_limits),
		cmocka_unit_test(test_cli_export),
		cmocka_unit_test(test_cli_too_many_routes),
		cmocka_unit_test(test_cli_listen),
	};

	return cmocka_run_group_tests_name("feature_flag", tests, NULL, NULL);
}
