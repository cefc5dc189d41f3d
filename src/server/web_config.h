/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --web.config.file: TLS and basic auth for the endpoint, in the file
 * format of the Prometheus exporters (exporter-toolkit, node_exporter).
 */
#ifndef OA_WEB_CONFIG_H
#define OA_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The most a web config file, a certificate or a key file may hold. */
#define WEB_CONFIG_MAX_BYTES (1 << 20)

struct web_user {
	char *name;
	char *hash;	/* bcrypt: $2a$, $2b$ or $2y$ */
	char *verified; /* the password that last matched hash; NULL: none yet */
};

struct web_config {
	char *cert_pem;		/* tls_server_config.cert_file's text; NULL: plain HTTP */
	char *key_pem;		/* tls_server_config.key_file's text */
	struct web_user *users; /* basic_auth_users; none: no authentication */
	size_t nr_users;
};

/*
 * Reads path (YAML) into cfg: tls_server_config with cert_file and key_file
 * (relative to the file's directory), and basic_auth_users, a map of user
 * names to bcrypt hashes. Anything else (another key, a hash that is not
 * bcrypt, a missing or unreadable file) is refused with one line on stderr
 * naming it. 0 or -errno; cfg is empty on error.
 */
int web_config_load(const char *path, struct web_config *cfg);

void web_config_free(struct web_config *cfg);

/*
 * True when user is in basic_auth_users and password matches its hash.
 * Thread-safe; remembers the password that last matched each user (in
 * users[], which a const cfg leaves writable).
 */
bool web_config_check_user(const struct web_config *cfg, const char *user, const char *password);

#endif /* OA_WEB_CONFIG_H */
