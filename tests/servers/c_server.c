// SPDX-License-Identifier: GPL-2.0
/*
 * c_server: a single-threaded HTTP/1.1 test server with the same routes as
 * core.js, doing all socket I/O with accept4(), recv() and send() so the
 * selftests cover that syscall family (Node uses read/writev, Python
 * recvfrom/sendto).
 *
 * Usage: c_server [PORT]   (default: $PORT or 8900; 0 picks a free port)
 * Prints "listening <port>" on stdout once it accepts connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BUF_SIZE  16384

struct conn {
	int fd;
	size_t len;
	size_t body_left; /* request body bytes still to discard */
	char buf[BUF_SIZE];
};

static struct conn conns[MAX_CONNS];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	default:
		return "Unknown";
	}
}

static int reply(int fd, int status, const char *body, int keep_alive)
{
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: %s\r\n\r\n%s",
			 status, reason(status), strlen(body), keep_alive ? "keep-alive" : "close",
			 body);

	if (n < 0 || (size_t)n >= sizeof(out))
		return -1;
	return send_all(fd, out, (size_t)n);
}

static int is_item_path(const char *path, size_t len)
{
	static const char prefix[] = "/items/";
	size_t plen = sizeof(prefix) - 1;

	if (len <= plen || strncmp(path, prefix, plen) != 0)
		return 0;
	return memchr(path + plen, '/', len - plen) == NULL;
}

static int is_route(const char *method, const char *path, size_t path_len, const char *want_method,
		    const char *want_path)
{
	return strcmp(method, want_method) == 0 && path_len == strlen(want_path) &&
	       strncmp(path, want_path, path_len) == 0;
}

static int route(const char *method, const char *path, size_t path_len, const char **body)
{
	if (is_route(method, path, path_len, "GET", "/hello")) {
		*body = "hello";
		return 200;
	}
	if (is_route(method, path, path_len, "POST", "/items")) {
		*body = "created";
		return 201;
	}
	if ((strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0) &&
	    is_item_path(path, path_len)) {
		*body = "ok";
		return 200;
	}
	if (is_route(method, path, path_len, "GET", "/boom")) {
		*body = "boom";
		return 500;
	}
	if (is_route(method, path, path_len, "GET", "/slow")) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 60 * 1000 * 1000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		*body = "slow";
		return 200;
	}
	*body = "not found";
	return 404;
}

/* Find a header value (case-insensitive name) inside [hdrs, end). */
static const char *find_header(const char *hdrs, const char *end, const char *name)
{
	size_t nlen = strlen(name);
	const char *line = hdrs;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
		    line[nlen] == ':') {
			const char *v = line + nlen + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			return v;
		}
		line = eol + 1;
	}
	return NULL;
}

/*
 * Handle every complete request in c->buf. Returns 0 to keep the connection,
 * -1 to close it.
 */
static int serve(struct conn *c)
{
	for (;;) {
		char method[16];
		const char *body, *sp1, *sp2, *hdr_end, *path, *q, *cl, *conn_hdr;
		size_t used, path_len;
		int status, keep_alive;

		if (c->body_left > 0) {
			size_t n = c->body_left < c->len ? c->body_left : c->len;

			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			c->body_left -= n;
			if (c->body_left > 0)
				return 0;
		}
		if (c->len == 0)
			return 0;
		hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!hdr_end)
			return c->len == sizeof(c->buf) ? -1 : 0;
		hdr_end += 4;
		used = (size_t)(hdr_end - c->buf);

		sp1 = memchr(c->buf, ' ', used);
		if (!sp1 || (size_t)(sp1 - c->buf) >= sizeof(method))
			return -1;
		sp2 = memchr(sp1 + 1, ' ', (size_t)(hdr_end - sp1 - 1));
		if (!sp2)
			return -1;
		memcpy(method, c->buf, (size_t)(sp1 - c->buf));
		method[sp1 - c->buf] = '\0';
		path = sp1 + 1;
		q = memchr(path, '?', (size_t)(sp2 - path));
		path_len = (size_t)((q ? q : sp2) - path);

		keep_alive = strncmp(sp2 + 1, "HTTP/1.1", 8) == 0;
		conn_hdr = find_header(c->buf, hdr_end, "Connection");
		if (conn_hdr && strncasecmp(conn_hdr, "close", 5) == 0)
			keep_alive = 0;
		else if (conn_hdr && strncasecmp(conn_hdr, "keep-alive", 10) == 0)
			keep_alive = 1;

		cl = find_header(c->buf, hdr_end, "Content-Length");
		c->body_left = cl ? strtoul(cl, NULL, 10) : 0;

		status = route(method, path, path_len, &body);
		if (reply(c->fd, status, body, keep_alive) < 0)
			return -1;

		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		if (!keep_alive)
			return -1;
	}
}

static void close_conn(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->body_left = 0;
}

static int parse_port(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : getenv("PORT");
	char *end;
	long port;

	if (!arg || !*arg)
		return 8900;
	port = strtol(arg, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -1;
	return (int)port;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct pollfd pfds[MAX_CONNS + 1];
	socklen_t alen = sizeof(addr);
	int lfd, one = 1, port, i;
	struct sigaction sa = { .sa_handler = on_signal };

	port = parse_port(argc, argv);
	if (port < 0) {
		fprintf(stderr, "c_server: bad port \"%s\"\n", argc > 1 ? argv[1] : getenv("PORT"));
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("c_server: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
		perror("c_server: bind/listen");
		return 1;
	}
	for (i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	printf("listening %d\n", ntohs(addr.sin_port));
	fflush(stdout);

	while (!stop) {
		int n = 0, map[MAX_CONNS + 1];

		pfds[n].fd = lfd;
		pfds[n++].events = POLLIN;
		for (i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			map[n] = i;
			pfds[n].fd = conns[i].fd;
			pfds[n++].events = POLLIN;
		}
		if (poll(pfds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("c_server: poll");
			return 1;
		}
		if (pfds[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			for (i = 0; fd >= 0 && i < MAX_CONNS && conns[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == MAX_CONNS)
				close(fd);
			else if (fd >= 0)
				conns[i].fd = fd;
		}
		for (i = 1; i < n; i++) {
			struct conn *c = &conns[map[i]];
			ssize_t got;

			if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close_conn(c);
				continue;
			}
			c->len += (size_t)got;
			if (serve(c) < 0)
				close_conn(c);
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close_conn(&conns[i]);
	close(lfd);
	return 0;
}
