// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The configuration file (src/config.c): good and bad lines, the messages
 * with file:line, and the merge with the command-line options.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "metrics/buckets.h"
#include "config.h"

/* What a call wrote to stderr. */
struct captured {
	int saved;
	FILE *tmp;
	char text[4096];
};

static void capture_start(struct captured *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->tmp), 2) >= 0);
}

static const char *capture_end(struct captured *c)
{
	size_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	rewind(c->tmp);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->tmp);
	c->text[n] = '\0';
	fclose(c->tmp);
	return c->text;
}

/* config_parse of text; returns its result, and stderr in *err. */
static int parse(const char *text, struct oa_config *cfg, struct captured *c, const char **err)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	int ret;

	assert_non_null(in);
	capture_start(c);
	ret = config_parse(in, "test.conf", cfg);
	*err = capture_end(c);
	fclose(in);
	return ret;
}

static void test_good_file(void **state)
{
	static const char text[] = "# otel-agent configuration\n"
				   "\n"
				   "route /api/users/{id}\n"
				   "   route\t/api/users/{id}/orders/{order}   # trailing comment\n"
				   "route /api/hello#not-a-comment-inside-a-word\n"
				   "ignore /healthz\n"
				   "ignore /internal/*\r\n"
				   "max-series-per-target 500\n"
				   "buckets-otel 0.005, 0.01,0.1 , 1\n"
				   "buckets-plugin 0.001,0.1,10\n"
				   "  # indented comment\n"
				   "\t\n";
	struct oa_config cfg = { 0 };
	struct captured c;
	const char *err;

	(void)state;
	/* a '#' inside a value is not a comment: the template check refuses it */
	assert_int_equal(parse(text, &cfg, &c, &err), -EINVAL);
	assert_non_null(strstr(err, "test.conf:5: route '/api/hello#not-a-comment-inside-a-word'"));
	assert_null(strstr(err, "test.conf:4"));
	config_free(&cfg);

	static const char ok[] = "route /api/users/{id}\n"
				 "   route\t/api/users/{id}/orders/{order}   # trailing comment\n"
				 "ignore /healthz\n"
				 "ignore /internal/*\r\n"
				 "max-series-per-target 500\n"
				 "buckets-otel 0.005, 0.01,0.1 , 1\n"
				 "buckets-plugin 0.001,0.1,10\n"
				 "body-sizes true\n"
				 "#route /commented/out\n"
				 "route /last"; /* no newline at the end */
	assert_int_equal(parse(ok, &cfg, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.nr_routes, 3);
	assert_string_equal(cfg.routes[0], "/api/users/{id}");
	assert_string_equal(cfg.routes[1], "/api/users/{id}/orders/{order}");
	assert_string_equal(cfg.routes[2], "/last");
	assert_int_equal(cfg.nr_ignores, 2);
	assert_string_equal(cfg.ignores[1], "/internal/*");
	assert_int_equal(cfg.max_series_per_target, 500);
	assert_int_equal(cfg.nr_buckets_otel, 4);
	assert_true(cfg.buckets_otel[3] == 1);
	assert_int_equal(cfg.nr_buckets_plugin, 3);
	assert_true(cfg.buckets_plugin[2] == 10);
	assert_true(cfg.body_sizes);
	config_free(&cfg);
	config_free(&cfg);
}

static void test_bad_lines(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "rout /x\n", "test.conf:1: unknown key 'rout' (known: route, ignore," },
		{ "\n\nroute\n", "test.conf:3: route needs a value" },
		{ "route   # only a comment\n", "test.conf:1: route needs a value" },
		{ "route api/x\n", "test.conf:1: route 'api/x' must start with '/'" },
		{ "route /a b\n", "test.conf:1: route '/a b' has a blank" },
		{ "route /a/{b\n", "test.conf:1: route '/a/{b' has a brace outside a placeholder" },
		{ "route /a?x=1\n", "test.conf:1: route '/a?x=1' has '?' or '#'" },
		{ "ignore /a /b\n", "test.conf:1: ignore '/a /b' has a blank" },
		{ "ignore\n", "test.conf:1: ignore needs a value" },
		{ "max-series-per-target 0\n",
		  "test.conf:1: max-series-per-target takes a number" },
		{ "max-series-per-target -3\n",
		  "test.conf:1: max-series-per-target takes a number" },
		{ "max-series-per-target 12k\n",
		  "test.conf:1: max-series-per-target takes a number" },
		{ "max-series-per-target 4194305\n",
		  "test.conf:1: max-series-per-target takes a number" },
		{ "body-sizes yes\n", "test.conf:1: body-sizes takes true or false, got 'yes'" },
		{ "body-sizes false\nbody-sizes true\n",
		  "test.conf:2: body-sizes is given twice (first on line 1)" },
		{ "max-series-per-target 5\nmax-series-per-target 6\n",
		  "test.conf:2: max-series-per-target is given twice (first on line 1)" },
		{ "buckets-otel 0.1,0.05\n",
		  "test.conf:1: buckets-otel '0.1,0.05': the bounds are not" },
		{ "buckets-plugin 0.1,+Inf\n",
		  "test.conf:1: buckets-plugin '0.1,+Inf': an item is not" },
		{ "buckets-plugin 1\nbuckets-plugin 2\n",
		  "test.conf:2: buckets-plugin is given twice" },
		{ "route=/x\n", "test.conf:1: unknown key 'route=/x'" },
		{ "ROUTE /x\n", "test.conf:1: unknown key 'ROUTE'" },
	};
	struct oa_config cfg = { 0 };
	struct captured c;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].text, &cfg, &c, &err) != -EINVAL)
			fail_msg("%s: want an error", cases[i].text);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: want '%s' in stderr got '%s'", cases[i].text, cases[i].want,
				 err);
		config_free(&cfg);
	}
}

static void test_every_bad_line_reported(void **state)
{
	static const char text[] = "route /ok\n"
				   "bogus 1\n"
				   "route /fine/{x}\n"
				   "ignore\n";
	struct oa_config cfg = { 0 };
	struct captured c;
	const char *err;

	(void)state;
	assert_int_equal(parse(text, &cfg, &c, &err), -EINVAL);
	assert_non_null(strstr(err, "test.conf:2: unknown key 'bogus'"));
	assert_non_null(strstr(err, "test.conf:4: ignore needs a value"));
	config_free(&cfg);
}

static void test_long_line(void **state)
{
	char *text = malloc(OA_MAX_CONFIG_LINE + 16);
	struct oa_config cfg = { 0 };
	struct captured c;
	const char *err;

	(void)state;
	assert_non_null(text);
	memset(text, '#', OA_MAX_CONFIG_LINE + 1);
	strcpy(text + OA_MAX_CONFIG_LINE + 1, "\n");
	assert_int_equal(parse(text, &cfg, &c, &err), -EINVAL);
	assert_non_null(strstr(err, "test.conf:1: longer than 4096 bytes"));
	config_free(&cfg);
	free(text);
}

static char *write_file(const char *text)
{
	char *path = strdup("/tmp/otel-agent-test-config-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_build_precedence(void **state)
{
	char *path = write_file("route /file/first\n"
				"route /file/{x}\n"
				"ignore /healthz\n"
				"max-series-per-target 300\n"
				"buckets-otel 0.1,1\n"
				"buckets-plugin 0.2,2\n");
	struct export_opts exp = { 0 };
	struct oa_config cfg;
	/* config_apply_buckets sets the bounds in force: put back at the end */
	const struct bucket_set otel = buckets_otel, plugin = buckets_plugin;

	(void)state;
	/* nothing given: built-in values */
	assert_int_equal(config_build(&exp, &cfg), 0);
	assert_int_equal(cfg.max_series_per_target, OA_DEFAULT_MAX_SERIES_PER_TARGET);
	assert_int_equal(cfg.nr_routes, 0);
	assert_int_equal(cfg.nr_buckets_otel, 0);
	assert_int_equal(cfg.rules.nr_templates, 0);
	config_free(&cfg);

	/* the file alone */
	exp.config = path;
	assert_int_equal(config_build(&exp, &cfg), 0);
	assert_int_equal(cfg.max_series_per_target, 300);
	assert_int_equal(cfg.rules.nr_templates, 2);
	assert_string_equal(cfg.rules.templates[0], "/file/first");
	assert_int_equal(cfg.rules.nr_ignores, 1);
	assert_int_equal(cfg.nr_buckets_otel, 2);
	config_free(&cfg);

	/* options on top: --route first, --ignore added, the rest replaced */
	exp.routes[exp.nr_routes++] = "/file/{y}";
	exp.ignores[exp.nr_ignores++] = "/metrics*";
	exp.max_series_per_target = 7;
	exp.buckets_otel[0] = 0.5;
	exp.nr_buckets_otel = 1;
	assert_int_equal(config_build(&exp, &cfg), 0);
	assert_int_equal(cfg.max_series_per_target, 7);
	assert_int_equal(cfg.rules.nr_templates, 3);
	assert_string_equal(cfg.rules.templates[0], "/file/{y}");
	assert_string_equal(cfg.rules.templates[1], "/file/first");
	assert_string_equal(cfg.rules.templates[2], "/file/{x}");
	assert_int_equal(cfg.rules.nr_ignores, 2);
	assert_int_equal(cfg.nr_buckets_otel, 1);
	assert_true(cfg.buckets_otel[0] == 0.5);
	assert_int_equal(cfg.nr_buckets_plugin, 2);
	assert_true(cfg.buckets_plugin[1] == 2);
	/* config_apply_buckets sets what the renderer and the kernel use */
	assert_int_equal(config_apply_buckets(&cfg), 0);
	assert_int_equal(buckets_otel.nr, 1);
	assert_true(buckets_otel.bounds[0] == 0.5);
	assert_int_equal(buckets_plugin.nr, 2);
	buckets_otel = otel;
	buckets_plugin = plugin;
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_build_errors(void **state)
{
	char *bad = write_file("route /ok\nnope\n");
	struct export_opts exp = { 0 };
	struct oa_config cfg;
	struct captured c;
	const char *err;
	int i;

	(void)state;
	exp.config = "/nonexistent/otel-agent.conf";
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -ENOENT);
	err = capture_end(&c);
	assert_non_null(strstr(err, "cannot read the config file /nonexistent/otel-agent.conf: "
				    "No such file or directory"));
	assert_null(cfg.routes);

	exp.config = bad;
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EINVAL);
	err = capture_end(&c);
	assert_non_null(strstr(err, ":2: unknown key 'nope'"));

	/* each set fits, the union does not: 20 + 20 distinct bounds */
	exp.config = NULL;
	for (i = 0; i < 20; i++) {
		exp.buckets_otel[i] = 0.01 * (i + 1);
		exp.buckets_plugin[i] = 0.001 * (i + 1);
	}
	exp.nr_buckets_otel = exp.nr_buckets_plugin = 20;
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EINVAL);
	err = capture_end(&c);
	assert_non_null(strstr(err, "more than the 31 distinct bounds"));
	/* shared bounds count once: 20 + 11 others fit */
	for (i = 0; i < 20; i++)
		exp.buckets_plugin[i] = i < 9 ? 0.01 * (i + 1) : 1 + i;
	assert_int_equal(config_build(&exp, &cfg), 0);
	config_free(&cfg);
	unlink(bad);
	free(bad);
}

/* Only a regular file is read, and at most OA_MAX_CONFIG_BYTES of it: never a device or a FIFO. */
static void test_build_not_regular(void **state)
{
	char dir[] = "/tmp/oa-config-XXXXXX", fifo[64], big[64];
	struct export_opts exp = { 0 };
	struct oa_config cfg;
	struct captured c;
	const char *err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(big, sizeof(big), "%s/big.conf", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* the old code blocked on a FIFO without writer, and read /dev/zero without end */
	alarm(5);

	exp.config = fifo;
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EINVAL);
	err = capture_end(&c);
	assert_non_null(strstr(err, "is a FIFO, not a regular file"));

	exp.config = "/dev/zero";
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EINVAL);
	err = capture_end(&c);
	assert_non_null(strstr(err, "/dev/zero is a character device, not a regular file"));

	exp.config = dir;
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EINVAL);
	err = capture_end(&c);
	assert_non_null(strstr(err, "is a directory, not a regular file"));

	f = fopen(big, "w");
	assert_non_null(f);
	for (size_t n = 0; n <= OA_MAX_CONFIG_BYTES; n += 16)
		fputs("# fifteen bytes\n", f);
	fclose(f);
	exp.config = big;
	capture_start(&c);
	assert_int_equal(config_build(&exp, &cfg), -EFBIG);
	err = capture_end(&c);
	assert_non_null(strstr(err, "is larger than 1 MiB"));
	assert_null(cfg.routes);

	/* exactly at the cap is fine */
	assert_int_equal(truncate(big, OA_MAX_CONFIG_BYTES), 0);
	assert_int_equal(config_build(&exp, &cfg), 0);
	config_free(&cfg);
	alarm(0);
	unlink(big);
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_every_bad_line_reported),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_build_precedence),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_build_not_regular),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
