/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The metrics endpoint (libmicrohttpd): routing, content type, gzip. */
#ifndef OA_HTTP_SERVER_H
#define OA_HTTP_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

enum oa_endpoint {
	EP_OTEL,   /* /metrics/otel */
	EP_PLUGIN, /* /metrics */
};

/* Writes the body of an endpoint; non-zero makes the request answer 500. */
typedef int (*render_fn)(void *ctx, enum oa_endpoint ep, FILE *out);

struct http_server;

/* "127.0.0.1:9464", "[::1]:9464", "localhost:9464" -> a socket address. */
int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len);

/* True when an Accept-Encoding value accepts gzip (a q=0 refuses it). */
bool accepts_gzip(const char *accept_encoding);

/*
 * Serves /metrics/otel, /metrics and /healthz on listen. When disabled,
 * the metrics paths answer 404 and /healthz says why (health_note).
 */
struct http_server *http_server_start(const char *listen, bool enabled, const char *health_note,
				      render_fn render, void *ctx);
void http_server_stop(struct http_server *srv);

#endif /* OA_HTTP_SERVER_H */
