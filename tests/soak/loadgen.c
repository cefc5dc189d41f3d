// SPDX-License-Identifier: GPL-2.0
/*
 * loadgen: a single-process, epoll-driven HTTP/1.1 load generator for the
 * otel-agent soak run. It keeps N connections busy against one server and
 * counts EXACTLY what it sent and what came back, per (method, route,
 * status), so the agent's series can be compared with it to the request.
 *
 * Usage: loadgen [OPTIONS] HOST:PORT
 *   -d, --duration S            start requests for S seconds (default 10)
 *   -c, --connections N         concurrent connections (default 50)
 *   -k, --requests-per-conn K   requests per connection, then it is closed
 *                               (default 1: a new connection per request)
 *   -t, --drain-timeout S       after --duration, wait at most S seconds for
 *                               the outstanding responses (default 10)
 *   -e, --max-errors N          stop starting requests after N errors
 *                               (default 1000)
 *   -p, --progress S            a progress line on stderr every S s (0: off)
 *   -o, --output FILE           write the JSON summary to FILE (default stdout)
 *
 * Requests rotate through a fixed mix of the routes of tests/servers/core.js
 * (GET /hello, query strings, POST /items, PUT/DELETE/GET /items/<n or uuid>,
 * GET /nope, GET /boom); the ids vary with a global request counter. The
 * last request of every connection carries "Connection: close" and the
 * generator then waits for the server's FIN before closing, so the server
 * closes first (its TIME_WAIT, not ours: no ephemeral port exhaustion at
 * thousands of connections per second).
 *
 * Counting: a request is "sent" once its first byte is written. It is
 * "completed" when its whole response (status line, headers, Content-Length
 * body) has been read, and counted under the status it got. A sent request
 * whose connection is reset or closed before the whole response, whose
 * response cannot be parsed, or that is still unanswered when the drain
 * timeout ends is "failed", by kind and by (method, route). A connection
 * that cannot be established is a connect error; no request was sent on it.
 * So: sent == completed + failed, always; the summary says so ("balanced").
 *
 * After --duration no request is started: connections still connecting are
 * abandoned (nothing was sent on them), every outstanding response is waited
 * for. The JSON summary goes to stdout (or --output); the exit status is 0
 * if no request failed and no connect error happened, 1 otherwise, 2 on a
 * usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS  20000
#define OUT_SIZE   1024
#define IN_SIZE	   8192
#define MAX_STATUS 600
#define MAX_EVENTS 256

/* What the agent reports: method and route template. */
struct route {
	const char *method;
	const char *route;
};

enum {
	R_GET_HELLO,
	R_POST_ITEMS,
	R_PUT_ITEM,
	R_DELETE_ITEM,
	R_GET_ITEM,
	R_GET_NOPE,
	R_GET_BOOM,
	NR_ROUTES,
};

static const struct route routes[NR_ROUTES] = {
	[R_GET_HELLO] = { "GET", "/hello" },	 [R_POST_ITEMS] = { "POST", "/items" },
	[R_PUT_ITEM] = { "PUT", "/items/{id}" }, [R_DELETE_ITEM] = { "DELETE", "/items/{id}" },
	[R_GET_ITEM] = { "GET", "/items/{id}" }, [R_GET_NOPE] = { "GET", "/nope" },
	[R_GET_BOOM] = { "GET", "/boom" },
};

enum id_kind { ID_NONE, ID_NUM, ID_UUID };

/* One request of the mix; path is a printf format taking the id (if any). */
struct mix_entry {
	int route;
	const char *path;
	enum id_kind id;
	const char *body;
	int want_status;
};

static const struct mix_entry mix[] = {
	{ R_GET_HELLO, "/hello", ID_NONE, NULL, 200 },
	{ R_GET_HELLO, "/hello?x=%s", ID_NUM, NULL, 200 },
	{ R_POST_ITEMS, "/items", ID_NONE, "{\"name\":\"widget\"}", 201 },
	{ R_GET_ITEM, "/items/%s", ID_NUM, NULL, 404 },
	{ R_PUT_ITEM, "/items/%s", ID_NUM, "{\"name\":\"gadget\"}", 200 },
	{ R_GET_HELLO, "/hello", ID_NONE, NULL, 200 },
	{ R_DELETE_ITEM, "/items/%s", ID_NUM, NULL, 200 },
	{ R_GET_NOPE, "/nope", ID_NONE, NULL, 404 },
	{ R_GET_BOOM, "/boom", ID_NONE, NULL, 500 },
	{ R_PUT_ITEM, "/items/%s", ID_UUID, "{}", 200 },
	{ R_GET_NOPE, "/nope?q=%s", ID_NUM, NULL, 404 },
};

#define NR_MIX (sizeof(mix) / sizeof(mix[0]))

enum fail_kind { F_RESET, F_EOF, F_PROTOCOL, F_TIMEOUT, NR_FAIL };

static const char *const fail_names[NR_FAIL] = {
	[F_RESET] = "reset",
	[F_EOF] = "eof_before_response",
	[F_PROTOCOL] = "protocol",
	[F_TIMEOUT] = "timeout",
};

enum conn_state {
	ST_FREE,       /* no socket */
	ST_CONNECTING, /* non-blocking connect in progress */
	ST_WRITING,    /* request partly written */
	ST_READING,    /* request written, response not complete */
	ST_WAIT_EOF,   /* last response complete, waiting for the server's FIN */
};

struct conn {
	int fd;
	enum conn_state state;
	int nr_done; /* responses completed on this connection */
	int mix;     /* mix entry of the outstanding request */
	int last;    /* the outstanding request carries Connection: close */
	char out[OUT_SIZE];
	size_t out_len, out_off;
	char in[IN_SIZE];
	size_t in_len;
	int hdr_done;	   /* status line and headers of the final response parsed */
	int status;	   /* its status */
	int64_t body_left; /* body bytes still expected; -1: until EOF */
	int srv_close;	   /* the server said Connection: close */
};

struct stats {
	uint64_t sent;
	uint64_t completed;
	uint64_t counts[NR_ROUTES][MAX_STATUS];
	uint64_t failed[NR_ROUTES][NR_FAIL];
	uint64_t connect_errors;
	uint64_t connects_abandoned;  /* still connecting at the end of --duration */
	uint64_t conns_opened;	      /* connections established */
	uint64_t conns_server_closed; /* closed after the server's FIN */
	uint64_t conns_client_closed; /* keep-alive ones closed by us at the end */
	uint64_t eof_wait_timeouts;   /* answered, but no FIN within the drain */
	uint64_t unexpected_status;   /* completed with another status than the mix says */
	uint64_t interim;	      /* 1xx responses skipped */
	uint64_t extra_bytes;	      /* connections with bytes after their last response */
	int first_errno;
	const char *first_error;
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostport[256];
	char host[256];
	double duration;
	double drain;
	int nconns;
	int per_conn;
	uint64_t max_errors;
	double progress;
	const char *output;
} opt = {
	.duration = 10,
	.drain = 10,
	.nconns = 50,
	.per_conn = 1,
	.max_errors = 1000,
};

static struct stats st;
static struct conn *conns;
static int epfd = -1;
static int active;	 /* connections not ST_FREE */
static int stopping;	 /* --duration is over: start nothing new */
static uint64_t req_seq; /* global request counter: mix rotation and ids */
static double t_start, t_stop, t_last_done;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "loadgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t nr_failed(void)
{
	uint64_t n = 0;
	int r, k;

	for (r = 0; r < NR_ROUTES; r++)
		for (k = 0; k < NR_FAIL; k++)
			n += st.failed[r][k];
	return n;
}

static uint64_t nr_errors(void)
{
	return nr_failed() + st.connect_errors + st.extra_bytes;
}

static void note_error(const char *what, int err)
{
	if (!st.first_error) {
		st.first_error = what;
		st.first_errno = err;
	}
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	c->state = ST_FREE;
	active--;
}

/* The outstanding request of c failed: count it and drop the connection. */
static void conn_fail(struct conn *c, enum fail_kind kind, int err)
{
	st.failed[mix[c->mix].route][kind]++;
	note_error(fail_names[kind], err);
	conn_close(c);
}

static void format_id(char *buf, size_t size, enum id_kind kind, uint64_t n)
{
	if (kind == ID_UUID)
		snprintf(buf, size, "%08" PRIx64 "-%04x-4%03x-8%03x-%012" PRIx64, n & 0xffffffffu,
			 (unsigned)(n >> 32) & 0xffff, (unsigned)(n & 0xfff),
			 (unsigned)((n >> 12) & 0xfff),
			 (uint64_t)(n * 2654435761u & 0xffffffffffffULL));
	else
		snprintf(buf, size, "%" PRIu64, n);
}

/* Build the next request of the mix into c->out. */
static void build_request(struct conn *c)
{
	const struct mix_entry *m;
	char id[64], path[160];
	uint64_t n = req_seq++;
	int len;

	c->mix = (int)(n % NR_MIX);
	m = &mix[c->mix];
	format_id(id, sizeof(id), m->id, n / NR_MIX);
	if (m->id == ID_NONE)
		snprintf(path, sizeof(path), "%s", m->path);
	else
		snprintf(path, sizeof(path), m->path, id);
	c->last = c->nr_done + 1 >= opt.per_conn;
	len = snprintf(c->out, sizeof(c->out),
		       "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: otel-agent-soak\r\n%s",
		       routes[m->route].method, path, opt.hostport,
		       c->last ? "Connection: close\r\n" : "");
	if (m->body)
		len += snprintf(c->out + len, sizeof(c->out) - len,
				"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				strlen(m->body), m->body);
	else
		len += snprintf(c->out + len, sizeof(c->out) - len, "\r\n");
	if (len <= 0 || (size_t)len >= sizeof(c->out))
		die("request does not fit in %d bytes", OUT_SIZE);
	c->out_len = (size_t)len;
	c->out_off = 0;
	c->in_len = 0;
	c->hdr_done = 0;
	c->status = 0;
	c->body_left = 0;
	c->srv_close = 0;
}

static void conn_open(struct conn *c)
{
	struct epoll_event ev;
	int fd, err;

	fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	c->fd = fd;
	c->nr_done = 0;
	c->state = ST_CONNECTING;
	active++;
	if (connect(fd, (struct sockaddr *)&opt.addr, opt.addrlen) < 0 && errno != EINPROGRESS) {
		err = errno;
		st.connect_errors++;
		note_error("connect", err);
		conn_close(c);
		return;
	}
	/* Added after connect(): a connection already established is reported
	 * at once (EPOLLOUT), one in progress when it is done or failed. */
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Parse what is in c->in. Returns 1 when the response is complete, 0 if more
 * is needed, -1 on a protocol error. Consumes what it parsed. */
static int parse_response(struct conn *c)
{
	for (;;) {
		if (!c->hdr_done) {
			char *end, *line, *next;
			int64_t clen = -1;
			size_t hlen;
			int status;

			end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
			if (!end)
				return c->in_len >= sizeof(c->in) ? -1 : 0;
			*end = '\0';
			hlen = (size_t)(end - c->in) + 4;
			if (strncmp(c->in, "HTTP/1.", 7) != 0 ||
			    (c->in[7] != '0' && c->in[7] != '1') || c->in[8] != ' ' ||
			    c->in[9] < '1' || c->in[9] > '5' || c->in[10] < '0' ||
			    c->in[10] > '9' || c->in[11] < '0' || c->in[11] > '9' ||
			    (c->in[12] != ' ' && c->in[12] != '\0'))
				return -1;
			status =
				(c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
			line = strstr(c->in, "\r\n");
			while (line) {
				line += 2;
				next = strstr(line, "\r\n");
				if (next)
					*next = '\0';
				if (!strncasecmp(line, "content-length:", 15)) {
					char *p = line + 15, *e;

					while (*p == ' ' || *p == '\t')
						p++;
					errno = 0;
					clen = (int64_t)strtoll(p, &e, 10);
					if (errno || e == p || clen < 0)
						return -1;
				} else if (!strncasecmp(line, "transfer-encoding:", 18)) {
					return -1; /* core.js never sends chunked; not handled */
				} else if (!strncasecmp(line, "connection:", 11) &&
					   strcasestr(line + 11, "close")) {
					c->srv_close = 1;
				}
				line = next;
			}
			memmove(c->in, c->in + hlen, c->in_len - hlen);
			c->in_len -= hlen;
			if (status >= 100 && status < 200 && status != 101) {
				st.interim++; /* 100 Continue and the like: the final one follows */
				c->srv_close = 0;
				continue;
			}
			c->hdr_done = 1;
			c->status = status;
			if (status == 204 || status == 304 || status == 101)
				clen = 0;
			c->body_left = clen;
		}
		if (c->body_left < 0) {
			c->in_len = 0; /* delimited by the server's close */
			return 0;
		}
		if ((int64_t)c->in_len <= c->body_left) {
			c->body_left -= (int64_t)c->in_len;
			c->in_len = 0;
			return c->body_left == 0;
		}
		return -1; /* bytes after the body: nothing was pipelined */
	}
}

static void start_request(struct conn *c);

/* The response of c is complete: count it, go on. */
static void response_done(struct conn *c)
{
	const struct mix_entry *m = &mix[c->mix];

	st.completed++;
	st.counts[m->route][c->status]++;
	if (c->status != m->want_status)
		st.unexpected_status++;
	t_last_done = now();
	c->nr_done++;
	if (c->last || c->srv_close) {
		c->state = ST_WAIT_EOF;
		return;
	}
	if (stopping) {
		st.conns_client_closed++;
		conn_close(c);
		return;
	}
	start_request(c);
}

/* Read until EAGAIN (edge-triggered), completing responses on the way. */
static void do_read(struct conn *c)
{
	for (;;) {
		ssize_t n;
		int r;

		if (c->state == ST_WAIT_EOF) {
			char tmp[256];

			n = recv(c->fd, tmp, sizeof(tmp), 0);
			if (n == 0) {
				st.conns_server_closed++;
				conn_close(c);
				return;
			}
			if (n > 0) {
				/* Bytes after the last response: it stays counted (the
				 * server did answer it), the anomaly is an error. */
				st.extra_bytes++;
				note_error("bytes after the last response", 0);
				conn_close(c);
				return;
			}
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* a reset after the response was read: the exchange is done */
			st.conns_server_closed++;
			conn_close(c);
			return;
		}
		if (c->state != ST_READING)
			return;
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_fail(c, F_RESET, errno);
			return;
		}
		if (n == 0) {
			if (c->hdr_done && c->body_left < 0) { /* close-delimited body */
				response_done(c);
				if (c->state == ST_WAIT_EOF) {
					st.conns_server_closed++;
					conn_close(c);
				}
				return;
			}
			conn_fail(c, F_EOF, 0);
			return;
		}
		c->in_len += (size_t)n;
		r = parse_response(c);
		if (r < 0) {
			conn_fail(c, F_PROTOCOL, 0);
			return;
		}
		if (r > 0)
			response_done(c); /* may start the next request on c */
	}
}

static void do_write(struct conn *c)
{
	while (c->state == ST_WRITING) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_fail(c, F_RESET, errno);
			return;
		}
		c->out_off += (size_t)n;
		if (c->out_off == c->out_len)
			c->state = ST_READING;
	}
}

static void start_request(struct conn *c)
{
	build_request(c);
	st.sent++;
	c->state = ST_WRITING;
	do_write(c);
	/* Edge-triggered: whatever arrived meanwhile must be read now. */
	if (c->state == ST_READING)
		do_read(c);
}

static void handle(struct conn *c, uint32_t events)
{
	if (c->state == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			st.connect_errors++;
			note_error("connect", err);
			conn_close(c);
			return;
		}
		st.conns_opened++;
		start_request(c);
		return;
	}
	if (c->state == ST_WRITING) {
		do_write(c);
		if (c->state == ST_READING)
			do_read(c);
		return;
	}
	if (c->state == ST_READING || c->state == ST_WAIT_EOF)
		do_read(c);
}

static void begin_stop(void)
{
	int i;

	stopping = 1;
	for (i = 0; i < opt.nconns; i++) {
		if (conns[i].state == ST_CONNECTING) {
			st.connects_abandoned++;
			conn_close(&conns[i]); /* nothing was sent on it */
		}
	}
}

/* Drain timeout: whatever is still outstanding failed. */
static void abandon_rest(void)
{
	int i;

	for (i = 0; i < opt.nconns; i++) {
		struct conn *c = &conns[i];

		switch (c->state) {
		case ST_WRITING:
		case ST_READING:
			conn_fail(c, F_TIMEOUT, ETIMEDOUT);
			break;
		case ST_WAIT_EOF:
			st.eof_wait_timeouts++;
			conn_close(c);
			break;
		case ST_CONNECTING:
			st.connects_abandoned++;
			conn_close(c);
			break;
		case ST_FREE:
			break;
		}
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void print_summary(FILE *f, double t_end)
{
	double load = (t_last_done > t_start ? t_last_done : t_end) - t_start;
	uint64_t failed = nr_failed();
	int r, s, k, first;

	fprintf(f, "{\n  \"target\": ");
	json_str(f, opt.hostport);
	fprintf(f, ",\n  \"duration_s\": %.3f,\n  \"connections\": %d,\n", opt.duration,
		opt.nconns);
	fprintf(f, "  \"requests_per_conn\": %d,\n", opt.per_conn);
	fprintf(f, "  \"elapsed_s\": %.3f,\n  \"load_s\": %.3f,\n", t_end - t_start, load);
	fprintf(f, "  \"sent\": %" PRIu64 ",\n  \"completed\": %" PRIu64 ",\n", st.sent,
		st.completed);
	fprintf(f, "  \"failed\": %" PRIu64 ",\n  \"balanced\": %s,\n", failed,
		st.sent == st.completed + failed ? "true" : "false");
	fprintf(f, "  \"requests_per_s\": %.1f,\n", load > 0 ? st.completed / load : 0.0);
	fprintf(f, "  \"connect_errors\": %" PRIu64 ",\n", st.connect_errors);
	fprintf(f, "  \"connects_abandoned_at_stop\": %" PRIu64 ",\n", st.connects_abandoned);
	fprintf(f, "  \"connections_opened\": %" PRIu64 ",\n", st.conns_opened);
	fprintf(f, "  \"connections_closed_by_server\": %" PRIu64 ",\n", st.conns_server_closed);
	fprintf(f, "  \"connections_closed_by_client\": %" PRIu64 ",\n", st.conns_client_closed);
	fprintf(f, "  \"eof_wait_timeouts\": %" PRIu64 ",\n", st.eof_wait_timeouts);
	fprintf(f, "  \"unexpected_status\": %" PRIu64 ",\n", st.unexpected_status);
	fprintf(f, "  \"interim_responses\": %" PRIu64 ",\n", st.interim);
	fprintf(f, "  \"bytes_after_last_response\": %" PRIu64 ",\n", st.extra_bytes);
	fprintf(f, "  \"first_error\": ");
	if (st.first_error) {
		char buf[160];

		snprintf(buf, sizeof(buf), "%s%s%s", st.first_error, st.first_errno ? ": " : "",
			 st.first_errno ? strerror(st.first_errno) : "");
		json_str(f, buf);
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\n  \"counts\": [");
	first = 1;
	for (r = 0; r < NR_ROUTES; r++) {
		for (s = 0; s < MAX_STATUS; s++) {
			if (!st.counts[r][s])
				continue;
			fprintf(f, "%s\n    {\"method\": \"%s\", \"route\": ", first ? "" : ",",
				routes[r].method);
			json_str(f, routes[r].route);
			fprintf(f, ", \"status\": \"%d\", \"count\": %" PRIu64 "}", s,
				st.counts[r][s]);
			first = 0;
		}
	}
	fprintf(f, "\n  ],\n  \"failures\": [");
	first = 1;
	for (r = 0; r < NR_ROUTES; r++) {
		for (k = 0; k < NR_FAIL; k++) {
			if (!st.failed[r][k])
				continue;
			fprintf(f, "%s\n    {\"method\": \"%s\", \"route\": ", first ? "" : ",",
				routes[r].method);
			json_str(f, routes[r].route);
			fprintf(f, ", \"kind\": \"%s\", \"count\": %" PRIu64 "}", fail_names[k],
				st.failed[r][k]);
			first = 0;
		}
	}
	fprintf(f, "\n  ]\n}\n");
}

static double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 86400)
		die("bad %s \"%s\"", what, s);
	return v;
}

static long parse_long(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("bad %s \"%s\" (want %ld..%ld)", what, s, min, max);
	return v;
}

static void resolve(const char *arg)
{
	struct addrinfo hints = { 0 }, *res;
	const char *colon, *host_end;
	char port[16];
	size_t hlen;
	int err;

	if (strlen(arg) >= sizeof(opt.hostport))
		die("address too long");
	snprintf(opt.hostport, sizeof(opt.hostport), "%s", arg);
	colon = strrchr(arg, ':');
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port))
		die("want HOST:PORT, got \"%s\"", arg);
	host_end = colon;
	if (arg[0] == '[') { /* [::1]:8080 */
		if (colon == arg || colon[-1] != ']')
			die("want [IPV6]:PORT, got \"%s\"", arg);
		arg++;
		host_end--;
	}
	hlen = (size_t)(host_end - arg);
	memcpy(opt.host, arg, hlen);
	opt.host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	err = getaddrinfo(opt.host, port, &hints, &res);
	if (err)
		die("%s: %s", opt.hostport, gai_strerror(err));
	memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
	opt.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: loadgen [-d SECONDS] [-c CONNECTIONS] [-k REQUESTS_PER_CONN]\n"
		   "               [-t DRAIN_SECONDS] [-e MAX_ERRORS] [-p PROGRESS_SECONDS]\n"
		   "               [-o JSON_FILE] HOST:PORT\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "connections", required_argument, NULL, 'c' },
		{ "requests-per-conn", required_argument, NULL, 'k' },
		{ "drain-timeout", required_argument, NULL, 't' },
		{ "max-errors", required_argument, NULL, 'e' },
		{ "progress", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "d:c:k:t:e:p:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opt.duration = parse_seconds(optarg, "--duration");
			break;
		case 'c':
			opt.nconns = (int)parse_long(optarg, "--connections", 1, MAX_CONNS);
			break;
		case 'k':
			opt.per_conn =
				(int)parse_long(optarg, "--requests-per-conn", 1, 1000000000);
			break;
		case 't':
			opt.drain = parse_seconds(optarg, "--drain-timeout");
			break;
		case 'e':
			opt.max_errors = (uint64_t)parse_long(optarg, "--max-errors", 1, 1L << 40);
			break;
		case 'p':
			opt.progress = parse_seconds(optarg, "--progress");
			break;
		case 'o':
			opt.output = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	resolve(argv[optind]);
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	double t, t_deadline, t_progress;
	FILE *out = stdout;
	int i, n;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (opt.output) {
		out = fopen(opt.output, "w");
		if (!out)
			die("%s: %s", opt.output, strerror(errno));
	}
	conns = calloc((size_t)opt.nconns, sizeof(*conns));
	if (!conns)
		die("out of memory");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));

	t_start = now();
	t_stop = t_start + opt.duration;
	t_deadline = t_stop + opt.drain;
	t_progress = opt.progress > 0 ? t_start + opt.progress : 0;
	for (i = 0; i < opt.nconns; i++) {
		conns[i].fd = -1;
		conns[i].state = ST_FREE;
	}

	for (;;) {
		int timeout_ms;

		t = now();
		if (!stopping && (t >= t_stop || nr_errors() >= opt.max_errors)) {
			if (t < t_stop)
				fprintf(stderr, "loadgen: %" PRIu64 " errors, stopping early\n",
					nr_errors());
			begin_stop();
		}
		if (!stopping) {
			/* Keep every slot busy: reopen what closed. */
			for (i = 0; i < opt.nconns && nr_errors() < opt.max_errors; i++)
				if (conns[i].state == ST_FREE)
					conn_open(&conns[i]);
		}
		if (stopping && active == 0)
			break;
		if (t >= t_deadline) {
			abandon_rest();
			break;
		}
		if (t_progress && t >= t_progress) {
			fprintf(stderr,
				"loadgen: %5.1fs sent %" PRIu64 " completed %" PRIu64
				" failed %" PRIu64 " connect errors %" PRIu64
				" connections %" PRIu64 "\n",
				t - t_start, st.sent, st.completed, nr_failed(), st.connect_errors,
				st.conns_opened);
			t_progress += opt.progress;
		}
		timeout_ms = (int)(((stopping ? t_deadline : t_stop) - t) * 1000) + 1;
		if (t_progress && (int)((t_progress - t) * 1000) + 1 < timeout_ms)
			timeout_ms = (int)((t_progress - t) * 1000) + 1;
		n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			/* c may have been closed (and reopened) by an earlier event of
			 * this batch: a stale event only causes a harmless EAGAIN. */
			if (c->state != ST_FREE)
				handle(c, events[i].events);
		}
	}

	print_summary(out, now());
	if (out != stdout && fclose(out) != 0)
		die("%s: %s", opt.output, strerror(errno));
	return nr_errors() ? 1 : 0;
}
