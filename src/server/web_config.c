// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The web config file of the Prometheus exporters (exporter-toolkit's
 * docs/web-configuration.md), the part the agent serves: TLS with a
 * certificate and key, and basic auth against bcrypt hashes. Read once at
 * start; a key the agent does not know is refused rather than ignored, so
 * that a setting copied from another exporter (client certificates, say)
 * never silently protects nothing.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <yaml.h>

#include "server/web_config.h"

/* Guards each user's verified password: the serving threads check at once. */
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;

/* One line on stderr about the file; returns -EINVAL. */
static int refuse(const char *path, const char *fmt, const char *what)
{
	fprintf(stderr, "otel-agent: --web.config.file %s: ", path);
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	return -EINVAL;
}

/* A regular file's text, at most WEB_CONFIG_MAX_BYTES, NUL-terminated, in *text. */
static int read_text(const char *cfg_path, const char *path, char **text, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n = 0;
	int fd, err = 0;

	/* O_NONBLOCK: opening a FIFO with no writer would block for good */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "otel-agent: --web.config.file %s: cannot read %s: %s\n", cfg_path,
			path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = refuse(cfg_path, "%s is not a regular file", path);
		goto out;
	}
	buf = malloc(WEB_CONFIG_MAX_BYTES + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got <= WEB_CONFIG_MAX_BYTES &&
	       (n = read(fd, buf + got, WEB_CONFIG_MAX_BYTES + 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		err = -errno;
		fprintf(stderr, "otel-agent: --web.config.file %s: cannot read %s: %s\n", cfg_path,
			path, strerror(-err));
	} else if (got > WEB_CONFIG_MAX_BYTES) {
		err = refuse(cfg_path, "%s is larger than 1 MiB", path);
	}
out:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[got] = '\0';
	*text = buf;
	if (len)
		*len = got;
	return 0;
}

static const char *scalar(yaml_node_t *node)
{
	return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
						      : NULL;
}

/* A file named in the config, relative to the config file's directory. */
static int read_named(const char *cfg_path, const char *name, char **text)
{
	char *dir_copy, path[4096];
	int err;

	if (name[0] == '/')
		return read_text(cfg_path, name, text, NULL);
	dir_copy = strdup(cfg_path);
	if (!dir_copy)
		return -ENOMEM;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dirname(dir_copy), name) >=
	    sizeof(path)) {
		free(dir_copy);
		return refuse(cfg_path, "the path of %s is too long", name);
	}
	free(dir_copy);
	err = read_text(cfg_path, path, text, NULL);
	return err;
}

static int load_tls(const char *path, yaml_document_t *doc, yaml_node_t *map,
		    struct web_config *cfg)
{
	const char *cert = NULL, *key = NULL;
	int err;

	if (map->type != YAML_MAPPING_NODE)
		return refuse(path, "%s is not a map", "tls_server_config");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		const char *v = scalar(yaml_document_get_node(doc, p->value));

		if (!k)
			return refuse(path, "%s has a key that is not a string",
				      "tls_server_config");
		if (!strcmp(k, "cert_file") && v)
			cert = v;
		else if (!strcmp(k, "key_file") && v)
			key = v;
		else
			return refuse(path,
				      "tls_server_config.%s is not supported (only cert_file and "
				      "key_file, both strings)",
				      k);
	}
	if (!cert || !key || !*cert || !*key)
		return refuse(path, "%s needs both cert_file and key_file", "tls_server_config");
	err = read_named(path, cert, &cfg->cert_pem);
	if (!err)
		err = read_named(path, key, &cfg->key_pem);
	if (err)
		return err;
	if (!strstr(cfg->cert_pem, "-----BEGIN CERTIFICATE-----"))
		return refuse(path, "cert_file %s holds no PEM certificate", cert);
	if (!strstr(cfg->key_pem, "PRIVATE KEY-----"))
		return refuse(path, "key_file %s holds no PEM private key", key);
	return 0;
}

static int load_users(const char *path, yaml_document_t *doc, yaml_node_t *map,
		      struct web_config *cfg)
{
	size_t n;

	if (map->type == YAML_SCALAR_NODE && !*scalar(map))
		return 0; /* "basic_auth_users:" with nothing: no user */
	if (map->type != YAML_MAPPING_NODE)
		return refuse(path, "%s is not a map of user names to bcrypt hashes",
			      "basic_auth_users");
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	cfg->users = calloc(n ? n : 1, sizeof(*cfg->users));
	if (!cfg->users)
		return -ENOMEM;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const char *user = scalar(yaml_document_get_node(doc, p->key));
		const char *hash = scalar(yaml_document_get_node(doc, p->value));
		struct web_user *u = &cfg->users[cfg->nr_users];

		if (!user || !*user || strchr(user, ':'))
			return refuse(path, "basic_auth_users: %s",
				      "a user name is empty, not a string or has a ':'");
		if (!hash || strncmp(hash, "$2", 2) || !strchr("aby", hash[2]) || hash[3] != '$' ||
		    crypt_checksalt(hash) != CRYPT_SALT_OK)
			return refuse(path,
				      "basic_auth_users: the hash of %s is not a bcrypt hash "
				      "($2a$, $2b$ or $2y$)",
				      user);
		u->name = strdup(user);
		u->hash = strdup(hash);
		if (!u->name || !u->hash)
			return -ENOMEM;
		cfg->nr_users++;
	}
	return 0;
}

static int load_doc(const char *path, yaml_document_t *doc, struct web_config *cfg)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	int err = 0;

	if (!root)
		return 0; /* an empty file: plain HTTP, no authentication */
	if (root->type != YAML_MAPPING_NODE)
		return refuse(path, "%s", "want a map (tls_server_config, basic_auth_users)");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     !err && p < root->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		yaml_node_t *v = yaml_document_get_node(doc, p->value);

		if (k && !strcmp(k, "tls_server_config"))
			err = load_tls(path, doc, v, cfg);
		else if (k && !strcmp(k, "basic_auth_users"))
			err = load_users(path, doc, v, cfg);
		else
			err = refuse(path,
				     "%s is not supported (only tls_server_config and "
				     "basic_auth_users)",
				     k ? k : "a key that is not a string");
	}
	return err;
}

int web_config_load(const char *path, struct web_config *cfg)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	char *text;
	size_t len;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	err = read_text(path, path, &text, &len);
	if (err)
		return err;
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		fprintf(stderr, "otel-agent: --web.config.file %s: not YAML: %s at line %zu\n",
			path, parser.problem ? parser.problem : "error",
			parser.problem_mark.line + 1);
		err = -EINVAL;
	} else {
		err = load_doc(path, &doc, cfg);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	free(text);
	if (err)
		web_config_free(cfg);
	return err;
}

void web_config_free(struct web_config *cfg)
{
	for (size_t i = 0; i < cfg->nr_users; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].hash);
		if (cfg->users[i].verified)
			explicit_bzero(cfg->users[i].verified, strlen(cfg->users[i].verified));
		free(cfg->users[i].verified);
	}
	free(cfg->users);
	free(cfg->cert_pem);
	if (cfg->key_pem)
		explicit_bzero(cfg->key_pem, strlen(cfg->key_pem));
	free(cfg->key_pem);
	memset(cfg, 0, sizeof(*cfg));
}

/* Constant-time equality of two strings (their lengths aside). */
static bool same(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char diff = 0;

	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return !diff;
}

/* password against hash by bcrypt; crypt_ra is thread-safe with its own buffer. */
static bool bcrypt_matches(const char *password, const char *hash)
{
	void *data = NULL;
	int size = 0;
	const char *got = crypt_ra(password, hash, &data, &size);
	bool ok = got && same(got, hash);

	free(data);
	return ok;
}

bool web_config_check_user(const struct web_config *cfg, const char *user, const char *password)
{
	struct web_user *u = NULL;
	bool ok;

	for (size_t i = 0; i < cfg->nr_users && !u; i++)
		if (!strcmp(cfg->users[i].name, user))
			u = &cfg->users[i];
	if (!u) {
		/* an unknown user takes as long as a wrong password: names are not told apart */
		if (cfg->nr_users)
			bcrypt_matches(password, cfg->users[0].hash);
		return false;
	}
	/*
	 * The password that last matched is kept, as exporter-toolkit does: a
	 * bcrypt check costs 50-170 ms of a serving thread at cost 10, and a
	 * scraper sends the same password every few seconds.
	 */
	pthread_mutex_lock(&verified_lock);
	ok = u->verified && same(u->verified, password);
	pthread_mutex_unlock(&verified_lock);
	if (ok)
		return true;
	if (!bcrypt_matches(password, u->hash))
		return false;
	pthread_mutex_lock(&verified_lock);
	if (!u->verified || !same(u->verified, password)) {
		char *copy = strdup(password);

		if (copy) {
			if (u->verified)
				explicit_bzero(u->verified, strlen(u->verified));
			free(u->verified);
			u->verified = copy;
		}
	}
	pthread_mutex_unlock(&verified_lock);
	return true;
}
