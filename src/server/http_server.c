// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The metrics endpoint, on libmicrohttpd's internal polling threads. Owns
 * routing and content negotiation (Prometheus text or OpenMetrics, gzip);
 * a metrics body is rendered on a thread of its own, one render at a time,
 * and sent while it is rendered (body_stream.c). libmicrohttpd's threads
 * never wait for a render: a connection whose body is not ready is
 * suspended, and resumed by its renderer.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <microhttpd.h>
#include "server/body_stream.h"
#include "cli.h"
#include "server/http_server.h"
#include "log.h"

#define CT_PROMETHEUS  "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CT_TEXT	       "text/plain; charset=utf-8"
/*
 * A connection's memory (libmicrohttpd's pool): its request line and
 * headers, its records of them, and each piece of a chunked body before it
 * is sent. libmicrohttpd 0.9.75 mmaps a pool over 32 KiB for every
 * connection, zeroes it page by page and unmaps it at the end: at 272 KiB
 * that was half of its thread's time in a burst of 5000 /healthz
 * connections (page faults and munmap), and a /healthz probe waited behind
 * the burst for up to 2 s. At 32 KiB the pool comes from malloc and is
 * reused. Bigger pieces bought nothing: a 21 MB chunked body is sent in
 * 80 pieces at 272 KiB, 680 at 32 KiB, in the same 20-40 ms.
 */
#define CONNECTION_MEMORY (32 * 1024)
/*
 * Descriptors kept out of the connection limit for everything else the
 * agent opens (BPF maps and programs, /proc files, the listening socket).
 */
#define FD_RESERVE 128
/*
 * Connections the kernel holds until accepted (capped by net.core.somaxconn):
 * when a burst fills the queue, a prober's SYN is dropped and retried only
 * a second later.
 */
#define LISTEN_BACKLOG 4096
/*
 * libmicrohttpd's threads, each with its own epoll set and its share of the
 * connections, all accepting on the listening socket. One thread answers a
 * burst in the order it came, a /healthz probe after all of it: during 5000
 * concurrent requests a probe waited 1-2.6 s. With several, a thread done
 * with its part takes the probe; 4 beat 2 even on 2 CPUs (slowest probe
 * 7-67 ms against 26-256 ms, 6 runs each), since a woken thread is run
 * soon while the busy ones take turns.
 */
#define SERVE_THREADS 4U
/*
 * The longest request target answered, and the most query parameters in it
 * (the endpoints take no query). libmicrohttpd 0.9.75 stores one record
 * (about 64 bytes) per query parameter in the connection's memory, and a
 * target whose records do not fit gets no answer at all: the 431 it means
 * to send is never sent, and the connection is held until the idle timeout. A target past either bound is answered 414
 * (check_uri). Parameters are counted, not only bytes: 8000 bytes of '&'
 * are 8000 empty parameters.
 */
#define URI_MAX		 8192
#define QUERY_PARAMS_MAX 64

/*
 * A connection, for the header deadline: libmicrohttpd's own timeout
 * restarts with every byte received, so a client trickling a header block
 * would hold its connection for ever.
 */
struct conn_watch {
	struct conn_watch *prev, *next;
	int fd;
	time_t deadline; /* CLOCK_MONOTONIC s its request's headers must be in by; 0: in */
	bool cut;
};

struct http_server {
	struct MHD_Daemon *daemon;
	const struct web_config *web; /* basic_auth_users; NULL: none */
	bool enabled;
	char health_note[256];
	render_fn render;
	void *ctx;
	struct stream_gate *gate; /* one render at a time */
	unsigned int idle_s;	  /* conn_timeout_s() */
	pthread_t watchdog;	  /* cuts connections past their header deadline */
	bool watchdog_started;
	pthread_mutex_t lock; /* conns, their deadlines, stopping */
	pthread_cond_t wake;
	bool stopping;
	struct conn_watch conns; /* list head */
};

/*
 * A connection with no progress for this long is closed (opts->conn_timeout_s).
 * Renders take turns and each waits for its reader, so a scraper that stops
 * reading would otherwise hold up every scrape after it; an idle keep-alive
 * connection is closed too (scrapers reconnect).
 */
static unsigned int conn_timeout_s(const struct http_server_opts *opts)
{
	return opts->conn_timeout_s ? opts->conn_timeout_s : HTTP_CONNECTION_TIMEOUT_S;
}

/* One media range of an Accept header: "type/subtype; version=1.0.0; q=0.5". */
struct media_range {
	char type[64];
	char version[16];
	bool has_version;
	double q;
};

int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(listen, ':');
	unsigned long port;
	size_t host_len;
	int err;

	/* digits only: getaddrinfo takes 99999 modulo 65536, and a sign or a blank */
	if (!colon || colon == listen || parse_decimal(colon + 1, 0, 65535, &port))
		return -EINVAL;
	host_len = (size_t)(colon - listen);
	if (listen[0] == '[') {
		if (host_len < 3 || listen[host_len - 1] != ']')
			return -EINVAL;
		listen++;
		host_len -= 2;
	}
	if (host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, host_len);
	host[host_len] = '\0';
	err = getaddrinfo(host, colon + 1, &hints, &res);
	if (err || !res)
		return -EINVAL;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

bool accepts_gzip(const char *value)
{
	const char *p = value;

	while (p && *p) {
		size_t n = strcspn(p, ",");
		char item[128];
		const char *name = item, *q;

		if (n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			while (*name == ' ' || *name == '\t')
				name++;
			if (!strncasecmp(name, "gzip", 4) &&
			    strchr(" \t;", name[4] ? name[4] : ' ')) {
				/* "gzip;q=0" explicitly refuses it */
				q = strstr(name, "q=");
				return !q || strtod(q + 2, NULL) > 0;
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Parses one media range (n bytes at p); false when it is not one. */
static bool parse_range(const char *p, size_t n, struct media_range *r)
{
	char item[256], *save = NULL, *tok;

	if (n >= sizeof(item))
		return false;
	memcpy(item, p, n);
	item[n] = '\0';
	tok = strtok_r(item, ";", &save);
	if (!tok)
		return false;
	snprintf(r->type, sizeof(r->type), "%s", trim(tok));
	r->version[0] = '\0';
	r->has_version = false;
	r->q = 1;
	while ((tok = strtok_r(NULL, ";", &save))) {
		char *eq = strchr(tok, '='), *name, *value, *end;
		size_t vn;

		if (!eq)
			continue;
		*eq = '\0';
		name = trim(tok);
		value = trim(eq + 1);
		vn = strlen(value);
		if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
			value[vn - 1] = '\0';
			value++;
		}
		if (!strcasecmp(name, "q")) {
			r->q = strtod(value, &end);
			if (end == value || *end || !(r->q >= 0))
				r->q = 0; /* not a qvalue: not acceptable */
			if (r->q > 1)
				r->q = 1;
		} else if (!strcasecmp(name, "version")) {
			snprintf(r->version, sizeof(r->version), "%s", value);
			r->has_version = true;
		}
	}
	return r->type[0] != '\0';
}

static double max_q(double a, double b)
{
	return a > b ? a : b;
}

enum oa_format negotiate_format(const char *accept)
{
	double om = -1, text = -1, text_any = -1, any = -1, q_text;
	const char *p = accept;

	while (p && *p) {
		size_t n = strcspn(p, ",");
		struct media_range r;

		if (parse_range(p, n, &r)) {
			if (!strcasecmp(r.type, "application/openmetrics-text")) {
				if (!r.has_version || !strcmp(r.version, "1.0.0"))
					om = max_q(om, r.q);
			} else if (!strcasecmp(r.type, "text/plain")) {
				text = max_q(text, r.q);
			} else if (!strcasecmp(r.type, "text/*")) {
				text_any = max_q(text_any, r.q);
			} else if (!strcmp(r.type, "*/*")) {
				any = max_q(any, r.q);
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	q_text = text >= 0 ? text : text_any >= 0 ? text_any : any >= 0 ? any : 0;
	return om > 0 && om >= q_text ? OA_FORMAT_OPENMETRICS : OA_FORMAT_PROMETHEUS;
}

const char *format_content_type(enum oa_format fmt)
{
	return fmt == OA_FORMAT_OPENMETRICS ? CT_OPENMETRICS : CT_PROMETHEUS;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     struct MHD_Response *resp, const char *type, const char *vary,
			     bool gzipped)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (gzipped)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, vary);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A response of a copy of text, or NULL. */
static struct MHD_Response *text_response(const char *text)
{
	char *body = strdup(text);
	struct MHD_Response *resp;

	if (!body)
		return NULL;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(body);
	return resp;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	return reply(conn, status, text_response(text), CT_TEXT, "Accept-Encoding", false);
}

/* reply_text, and the connection is closed after it: what follows the request is not read. */
static enum MHD_Result reply_close(struct MHD_Connection *conn, unsigned int status,
				   const char *text)
{
	struct MHD_Response *resp = text_response(text);

	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	return reply(conn, status, resp, CT_TEXT, "Accept-Encoding", false);
}

/* The stream's waker: called with its lock held, which libmicrohttpd never holds (body_stream.c). */
static void suspend_connection(void *conn)
{
	MHD_suspend_connection(conn);
}

static void resume_connection(void *conn)
{
	MHD_resume_connection(conn);
}

static const struct body_waker mhd_waker = {
	.suspend = suspend_connection,
	.resume = resume_connection,
};

/* libmicrohttpd asks for the next bytes of a metrics body. */
static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n = body_stream_read(cls, buf, max);

	(void)pos; /* asked in order */
	if (n > 0)
		return n;
	if (n == BODY_AGAIN)
		return 0; /* suspended: asked again once resumed */
	return n ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The response is gone: sent, or the client left before the end. */
static void release_body(void *cls)
{
	body_stream_release(cls);
}

/*
 * Called again (same *req_ctx, the stream) after each suspension, until
 * the body is ready to send: the response is created then.
 */
static enum MHD_Result serve_metrics(struct http_server *srv, struct MHD_Connection *conn,
				     enum oa_endpoint ep, void **req_ctx)
{
	const char *ae =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *accept =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	/* /metrics stays what the plugin served: Prometheus text, whatever is asked */
	bool negotiates = ep == EP_OTEL;
	enum oa_format fmt = negotiates ? negotiate_format(accept) : OA_FORMAT_PROMETHEUS;
	const char *vary = negotiates ? "Accept, Accept-Encoding" : "Accept-Encoding";
	struct body_stream *bs;
	struct MHD_Response *resp;
	bool complete = false, gzipped;
	uint64_t size = 0;
	int ret;

	bs = *req_ctx;
	if (!bs) {
		bs = body_stream_start(srv->gate, srv->render, srv->ctx, ep, fmt,
				       ae && accepts_gzip(ae), conn);
		if (!bs)
			return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
					  "cannot start rendering\n");
		*req_ctx = bs; /* request_done releases it if the request ends here */
	}
	/* wait (suspended) for the end of the render or BODY_QUEUE_MAX bytes of it */
	ret = body_stream_poll(bs, &complete, &size);
	if (ret == BODY_AGAIN)
		return MHD_YES;
	*req_ctx = NULL; /* from here on the response owns bs, or nothing does */
	/* an error before the first bytes still gets a status that says so */
	if (ret) {
		body_stream_release(bs);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "rendering failed\n");
	}
	gzipped = body_stream_gzipped(bs);
	/* a body rendered whole has a Content-Length; a larger one goes out chunked */
	resp = MHD_create_response_from_callback(complete ? size : MHD_SIZE_UNKNOWN, BODY_CHUNK_LEN,
						 read_body, bs, release_body);
	if (!resp)
		body_stream_release(bs);
	return reply(conn, MHD_HTTP_OK, resp, format_content_type(fmt), vary, gzipped);
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

/* A request's headers are in (0), or the next request's may start (the idle timeout). */
static void set_deadline(struct http_server *srv, struct MHD_Connection *conn, time_t deadline)
{
	struct conn_watch *w = conn_watch_of(conn);

	if (!w)
		return;
	pthread_mutex_lock(&srv->lock);
	w->deadline = deadline;
	pthread_mutex_unlock(&srv->lock);
}

/*
 * check_uri's mark on a request whose target is refused: libmicrohttpd
 * hands it to the access handler as the request's context (*req_ctx).
 */
static char target_refused;

/* True when a request target is longer than URI_MAX or has more than QUERY_PARAMS_MAX parameters. */
static bool target_too_big(const char *uri)
{
	const char *query;
	unsigned int params = 1;

	if (strnlen(uri, URI_MAX + 1) > URI_MAX)
		return true;
	query = strchr(uri, '?');
	if (!query)
		return false;
	for (const char *p = query + 1; *p; p++)
		if (*p == '&' && ++params > QUERY_PARAMS_MAX)
			return true;
	return false;
}

/*
 * Called with the request target before libmicrohttpd parses its query
 * (MHD_OPTION_URI_LOG_CALLBACK). A target too big to answer has its query
 * cut to nothing, so that libmicrohttpd stores no parameter, and is marked:
 * the access handler then answers 414 once the headers are in, through
 * libmicrohttpd like any answer (a 414 written to the socket from here made
 * MHD_stop_daemon crash). The target is libmicrohttpd's writable copy of
 * the request line, handed over as const: the cut is the one byte after
 * '?', which 0.9.75 has found already and reads as an empty query.
 */
static void *check_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	char *query;

	(void)cls;
	(void)conn;
	if (!target_too_big(uri))
		return NULL;
	query = strchr(uri, '?');
	if (query)
		query[1] = '\0';
	return &target_refused;
}

/*
 * Every connection is listed from its start to its end with the deadline of
 * its request's headers: HTTP_HEADER_DEADLINE_S for the first request, the
 * idle timeout for each later one on a keep-alive connection.
 */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct conn_watch *w = *socket_ctx;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		w = calloc(1, sizeof(*w));
		if (!w || !info) {
			free(w);
			return; /* unwatched: libmicrohttpd's idle timeout still applies */
		}
		w->fd = info->connect_fd;
		w->deadline = now_s() + HTTP_HEADER_DEADLINE_S;
		pthread_mutex_lock(&srv->lock);
		w->next = srv->conns.next;
		w->prev = &srv->conns;
		w->next->prev = w;
		srv->conns.next = w;
		pthread_mutex_unlock(&srv->lock);
		*socket_ctx = w;
		return;
	}
	if (!w)
		return;
	/* libmicrohttpd closes the socket after this: once unlisted, it is never cut */
	pthread_mutex_lock(&srv->lock);
	w->prev->next = w->next;
	w->next->prev = w->prev;
	pthread_mutex_unlock(&srv->lock);
	free(w);
	*socket_ctx = NULL;
}

/*
 * Cuts (shutdown) each connection whose headers are late; libmicrohttpd
 * then reads the end of the stream and closes it on its own thread. The
 * socket is still libmicrohttpd's while listed (notify_connection), so a
 * cut never reaches a descriptor number reused by another connection.
 */
static void *watchdog(void *arg)
{
	struct http_server *srv = arg;
	struct timespec until;

	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping) {
		time_t now = now_s();

		for (struct conn_watch *w = srv->conns.next; w != &srv->conns; w = w->next) {
			if (w->deadline && now >= w->deadline && !w->cut) {
				shutdown(w->fd, SHUT_RDWR);
				w->cut = true;
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&srv->wake, &srv->lock, &until);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* The request's basic auth names a user of the web config with its password. */
static bool authorized(struct http_server *srv, struct MHD_Connection *conn)
{
	char *password = NULL;
	char *user = MHD_basic_auth_get_username_password(conn, &password);
	bool ok = user && password && web_config_check_user(srv->web, user, password);

	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	MHD_free(user);
	return ok;
}

/* 401 with the challenge that makes a client send basic auth. */
static enum MHD_Result reply_unauthorized(struct MHD_Connection *conn)
{
	struct MHD_Response *resp = text_response("unauthorized\n");
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CT_TEXT);
	ret = MHD_queue_basic_auth_fail_response(conn, "otel-agent", resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_ctx)
{
	struct http_server *srv = cls;
	char note[300];

	set_deadline(srv, conn, 0);
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	/* every path, /healthz too, as the exporters do; *req_ctx is set once past here */
	if (!*req_ctx && srv->web && srv->web->nr_users && !authorized(srv, conn))
		return reply_unauthorized(conn);
	if (*req_ctx == &target_refused) {
		*req_ctx = NULL;
		return reply_close(conn, MHD_HTTP_URI_TOO_LONG, "request target too long\n");
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (!strcmp(url, "/healthz")) {
		snprintf(note, sizeof(note), "%s%s\n",
			 srv->enabled ? "ok" : "disabled: ", srv->enabled ? "" : srv->health_note);
		return reply_text(conn, MHD_HTTP_OK, note);
	}
	if (srv->enabled && !strcmp(url, "/metrics/otel"))
		return serve_metrics(srv, conn, EP_OTEL, req_ctx);
	if (srv->enabled && !strcmp(url, "/metrics"))
		return serve_metrics(srv, conn, EP_PLUGIN, req_ctx);
	if (!srv->enabled && (!strcmp(url, "/metrics") || !strcmp(url, "/metrics/otel"))) {
		snprintf(note, sizeof(note), "metrics disabled: %s\n", srv->health_note);
		return reply_text(conn, MHD_HTTP_NOT_FOUND, note);
	}
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics/otel or /metrics\n");
}

/* A request ended: a stream no response took (a suspended request cut short) is released. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;

	(void)toe;
	set_deadline(srv, conn, now_s() + srv->idle_s);
	if (*req_ctx && *req_ctx != &target_refused)
		body_stream_release(*req_ctx);
	*req_ctx = NULL;
}

/*
 * libmicrohttpd's own messages: to the debug log, so that a failure is the
 * agent's one clear line (MHD's bind error even names the wrong port).
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/*
 * Thousands of connections need thousands of descriptors: the soft limit
 * (often 1024) goes up to the hard one. Returns the soft limit now.
 */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = was;
		log_debug("open files limit: %llu (was %llu)", (unsigned long long)rl.rlim_cur,
			  (unsigned long long)was);
	} else {
		log_debug("open files limit: %llu", (unsigned long long)rl.rlim_cur);
	}
	return rl.rlim_cur;
}

/* HTTP_MAX_CONNECTIONS, fewer when the open files limit is lower. */
static unsigned int connection_limit(void)
{
	rlim_t nofile = raise_nofile();
	unsigned int limit = HTTP_MAX_CONNECTIONS;

	if (nofile < (rlim_t)HTTP_MAX_CONNECTIONS + FD_RESERVE)
		limit = (unsigned int)(nofile - FD_RESERVE);
	if (nofile < FD_RESERVE + HTTP_MAX_CONNECTIONS_PER_IP)
		limit = HTTP_MAX_CONNECTIONS_PER_IP;
	log_debug("at most %u connections, %u per client address", limit,
		  HTTP_MAX_CONNECTIONS_PER_IP);
	return limit;
}

static void server_free(struct http_server *srv)
{
	if (srv->watchdog_started) {
		pthread_mutex_lock(&srv->lock);
		srv->stopping = true;
		pthread_cond_signal(&srv->wake);
		pthread_mutex_unlock(&srv->lock);
		pthread_join(srv->watchdog, NULL);
	}
	/* before the lock goes: MHD_stop_daemon unlists every connection */
	MHD_stop_daemon(srv->daemon);
	stream_gate_free(srv->gate);
	pthread_cond_destroy(&srv->wake);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

struct http_server *http_server_serve(const struct http_server_opts *opts, render_fn render,
				      void *ctx)
{
	const char *listen = opts->listen;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct http_server *srv;
	/* epoll: select() cannot watch a descriptor above 1023 (FD_SETSIZE) */
	unsigned int flags =
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	/* the certificate and key when serving TLS; else only the end */
	struct MHD_OptionItem tls[3] = { { MHD_OPTION_END, 0, NULL },
					 { MHD_OPTION_END, 0, NULL },
					 { MHD_OPTION_END, 0, NULL } };
	int err;

	if (parse_listen(listen, &addr, &addr_len)) {
		log_error(
			"--listen '%s' is not ADDR:PORT (for example 127.0.0.1:9464 or [::1]:9464)",
			listen);
		errno = EINVAL;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->enabled = opts->enabled;
	snprintf(srv->health_note, sizeof(srv->health_note), "%s",
		 opts->health_note ? opts->health_note : "");
	srv->render = render;
	srv->ctx = ctx;
	srv->idle_s = conn_timeout_s(opts);
	srv->web = opts->web;
	srv->conns.next = srv->conns.prev = &srv->conns;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->wake, NULL);
	srv->gate = stream_gate_new(&mhd_waker);
	if (!srv->gate) {
		server_free(srv);
		errno = ENOMEM;
		return NULL;
	}
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (opts->web && opts->web->cert_pem) {
		flags |= MHD_USE_TLS;
		tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, opts->web->key_pem };
		tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						  opts->web->cert_pem };
	}
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, request_done, srv,
		MHD_OPTION_CONNECTION_TIMEOUT, srv->idle_s, MHD_OPTION_CONNECTION_LIMIT,
		connection_limit(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)HTTP_MAX_CONNECTIONS_PER_IP, MHD_OPTION_NOTIFY_CONNECTION,
		notify_connection, srv, MHD_OPTION_URI_LOG_CALLBACK, check_uri, srv,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)LISTEN_BACKLOG,
		MHD_OPTION_THREAD_POOL_SIZE, SERVE_THREADS, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->daemon) {
		err = errno ? errno : EADDRINUSE;
		if (opts->web && opts->web->cert_pem)
			log_error("cannot serve TLS on %s: %s (is key_file the key of cert_file?)",
				  listen, strerror(err));
		else
			log_error("cannot listen on %s: %s", listen, strerror(err));
		server_free(srv);
		errno = err;
		return NULL;
	}
	err = pthread_create(&srv->watchdog, NULL, watchdog, srv);
	if (err) {
		log_error("cannot start the endpoint's header deadline thread: %s", strerror(err));
		server_free(srv);
		errno = err;
		return NULL;
	}
	srv->watchdog_started = true;
	return srv;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/* no connection may stay suspended through MHD_stop_daemon: resume them all, for good */
	stream_gate_close(srv->gate);
	/* the responses are gone with the daemon: renders still running stop at their next chunk */
	server_free(srv);
}

int http_server_port(struct http_server *srv)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);

	return info && info->port ? info->port : -ENOTCONN;
}

size_t http_server_peak_body_chunks(struct http_server *srv)
{
	return stream_gate_peak_chunks(srv->gate);
}
