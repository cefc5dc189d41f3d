// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The web config file: what it accepts, what it refuses, and the bcrypt check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/web_config.h"

static char dir[] = "/tmp/oa-web-config-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads text as a web config: 0 or -errno. */
static int load(const char *text, struct web_config *cfg)
{
	char path[256];

	write_file("web.yml", text);
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	return web_config_load(path, cfg);
}

static int set_up(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	write_file("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
	return 0;
}

static int tear_down(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_tls_and_users(void **state)
{
	struct web_config cfg;
	char text[512], hash[128];
	const char *salt = crypt_gensalt("$2b$", 4, NULL, 0);
	const char *h;

	(void)state;
	assert_non_null(salt);
	h = crypt("right pass", salt);
	assert_non_null(h);
	snprintf(hash, sizeof(hash), "%s", h);
	snprintf(text, sizeof(text),
		 "tls_server_config:\n  cert_file: cert.pem\n  key_file: %s/key.pem\n"
		 "basic_auth_users:\n  prom: '%s'\n  other: '%s'\n",
		 dir, hash, hash);
	assert_int_equal(load(text, &cfg), 0);
	assert_non_null(strstr(cfg.cert_pem, "BEGIN CERTIFICATE"));
	assert_non_null(strstr(cfg.key_pem, "PRIVATE KEY"));
	assert_int_equal(cfg.nr_users, 2);
	assert_null(cfg.users[0].verified);
	assert_true(web_config_check_user(&cfg, "prom", "right pass"));
	/* remembered: a scraper pays bcrypt once; a wrong password is still checked */
	assert_string_equal(cfg.users[0].verified, "right pass");
	assert_true(web_config_check_user(&cfg, "prom", "right pass"));
	assert_true(web_config_check_user(&cfg, "other", "right pass"));
	assert_false(web_config_check_user(&cfg, "prom", "wrong pass"));
	assert_false(web_config_check_user(&cfg, "prom", ""));
	assert_false(web_config_check_user(&cfg, "nobody", "right pass"));
	web_config_free(&cfg);
	assert_null(cfg.users);
}

static void test_empty_is_plain(void **state)
{
	struct web_config cfg;

	(void)state;
	assert_int_equal(load("", &cfg), 0);
	assert_null(cfg.cert_pem);
	assert_int_equal(cfg.nr_users, 0);
	web_config_free(&cfg);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"tls_server_config:\n  cert_file: cert.pem\n",
		"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
		"  client_ca_file: ca.pem\n",
		"tls_server_config:\n  cert_file: key.pem\n  key_file: cert.pem\n",
		"tls_server_config:\n  cert_file: cert.pem\n  key_file: missing.pem\n",
		"basic_auth_users:\n  prom: plaintext\n",
		"basic_auth_users:\n  prom: $1$md5$hash\n",
		"basic_auth_users:\n  - prom\n",
		"http_server_config:\n  http2: false\n",
		"- a list\n",
		"tls_server_config: [\n",
	};
	struct web_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load(bad[i], &cfg) != -EINVAL && load(bad[i], &cfg) != -ENOENT)
			fail_msg("accepted: %s", bad[i]);
		assert_null(cfg.cert_pem);
		assert_null(cfg.users);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_and_users),
		cmocka_unit_test(test_empty_is_plain),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, set_up, tear_down);
}
