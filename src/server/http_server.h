/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The metrics endpoint (libmicrohttpd): routing, content negotiation, gzip. */
#ifndef OA_HTTP_SERVER_H
#define OA_HTTP_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "expose/render.h"
#include "server/web_config.h"

enum oa_endpoint {
	EP_OTEL,   /* /metrics/otel */
	EP_PLUGIN, /* /metrics */
};

/*
 * Writes the body of an endpoint in fmt (always OA_FORMAT_PROMETHEUS for
 * /metrics). Called on a render thread, never two at once; what it writes
 * is sent while it writes. Returns 0 or -errno: an error makes the request
 * answer 500 when nothing was sent yet (BODY_QUEUE_MAX bytes,
 * body_stream.h), and cuts the response short after that, so that the
 * scraper fails it.
 */
typedef int (*render_fn)(void *ctx, enum oa_endpoint ep, enum oa_format fmt, FILE *out);

struct http_server;

/*
 * "127.0.0.1:9464", "[::1]:9464", "localhost:9464" -> a socket address; the
 * port is 0 to 65535 in digits (0: one the kernel picks). 0 or -EINVAL.
 */
int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len);

/* True when an Accept-Encoding value accepts gzip (a q=0 refuses it). */
bool accepts_gzip(const char *accept_encoding);

/*
 * The format to answer an Accept header with: OpenMetrics 1.0.0 when it is
 * named (application/openmetrics-text without a version or with
 * version=1.0.0) with a q at least that of Prometheus text (text/plain, else
 * text/ *, else * / *); Prometheus text otherwise, also with no header.
 */
enum oa_format negotiate_format(const char *accept);

/* The Content-Type of a format. */
const char *format_content_type(enum oa_format fmt);

/* What the agent passes as conn_timeout_s (and what 0 means). */
#define HTTP_CONNECTION_TIMEOUT_S 30

/*
 * A new connection's first request must have sent all its headers within
 * this long, however it trickles them (a later request on a keep-alive
 * connection: within conn_timeout_s of the one before). docs/architecture.md
 * says why these values.
 */
#define HTTP_HEADER_DEADLINE_S 10
/* Connections at once (fewer when the open files limit is lower), and per client address. */
#define HTTP_MAX_CONNECTIONS	    8192
#define HTTP_MAX_CONNECTIONS_PER_IP 32

struct http_server_opts {
	const char *listen;	      /* ADDR:PORT (parse_listen) */
	bool enabled;		      /* false: the metrics paths answer 404 */
	const char *health_note;      /* when disabled: why (/healthz, the metrics paths' 404) */
	unsigned int conn_timeout_s;  /* no progress this long closes a connection; 0: 30 s */
	const struct web_config *web; /* TLS and basic auth; NULL or empty: neither */
};

/*
 * Serves /metrics/otel (in the format the scraper's Accept header asks
 * for), /metrics (Prometheus text) and /healthz on opts->listen. When
 * disabled, the metrics paths answer 404 and /healthz says why.
 */
struct http_server *http_server_serve(const struct http_server_opts *opts, render_fn render,
				      void *ctx);

void http_server_stop(struct http_server *srv);

/* The port the endpoint listens on (the kernel's pick for port 0), or -errno. */
int http_server_port(struct http_server *srv);

/*
 * The most chunks of metrics bodies (BODY_CHUNK_LEN bytes each,
 * body_stream.h) held at once since the server started, all scrapes
 * together: the tests' view of the bound on the endpoint's memory (the
 * agent does not use it).
 */
size_t http_server_peak_body_chunks(struct http_server *srv);

#endif /* OA_HTTP_SERVER_H */
