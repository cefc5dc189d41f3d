// SPDX-License-Identifier: GPL-2.0
/*
 * c_server: a single-threaded, poll()-driven HTTP/1.1 test server with the
 * same routes as core.js, whose socket syscalls are chosen on the command
 * line so the selftests can cover every syscall family the agent traces
 * (Node uses accept4/read/writev, Python recvfrom/sendto).
 *
 * Usage: c_server [OPTIONS] [PORT]   (default: $PORT or 8900; 0 picks a free port)
 *   --in=read|readv|recv|recvfrom|recvmsg|recvmmsg        (default recv)
 *   --out=write|writev|send|sendto|sendmsg|sendmmsg|sendfile (default send)
 *   --accept=accept|accept4   (default accept4)
 *   --close=close|shutdown    (shutdown: shutdown(SHUT_WR), then close)
 *   --ipv6                    listen on ::1 instead of 127.0.0.1
 *   --unix=PATH               listen on an AF_UNIX stream socket at PATH
 *   --split-headers           header block and body in two syscalls
 *   --batch                   answer every complete request of one read in one syscall
 *   --reuse-fd-for-file       after closing a connection, write a status line
 *                             into a temp file (that likely gets the same fd)
 * Prints "listening <port>" (or "listening <PATH>" with --unix) on stdout once
 * it accepts connections.
 *
 * On x86-64 glibc recv() and send() are the recvfrom and sendto syscalls
 * (there are no recv/send syscalls); --in=recv and --in=recvfrom differ only
 * in the arguments (recvfrom gets an address buffer), likewise --out=send and
 * --out=sendto.
 *
 * writev, sendmsg and sendmmsg send a response as two iovecs (headers, body);
 * sendmmsg sends one message per response. sendfile sends the headers with
 * send() and the body from a temp file with sendfile(). readv and recvmsg read
 * into two adjacent iovecs; recvmmsg into two messages (MSG_WAITFORONE).
 *
 * Requests may arrive in any number of reads: the server buffers until the
 * header end and the Content-Length body are in. "Expect: 100-continue" gets
 * "HTTP/1.1 100 Continue" before the body is read. GET /slow answers after
 * 60 ms, GET /late (202) after 1000 ms, without blocking: if the client
 * closes or resets the connection meanwhile, the server closes it without
 * answering (as Node does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS     64
#define BUF_SIZE      16384
#define MAX_QUEUE     64 /* responses sent in one flush */
#define HDR_SIZE      256
#define FILE_BODY_LEN 4096
#define SLOW_MS	      60
#define LATE_MS	      1000

enum in_kind { IN_READ, IN_READV, IN_RECV, IN_RECVFROM, IN_RECVMSG, IN_RECVMMSG };
enum out_kind {
	OUT_WRITE,
	OUT_WRITEV,
	OUT_SEND,
	OUT_SENDTO,
	OUT_SENDMSG,
	OUT_SENDMMSG,
	OUT_SENDFILE
};

static const char *const in_names[] = {
	"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg"
};
static const char *const out_names[] = { "write",   "writev",	"send",	   "sendto",
					 "sendmsg", "sendmmsg", "sendfile" };

static struct {
	enum in_kind in;
	enum out_kind out;
	int accept4;
	int shutdown;
	int ipv6;
	const char *unix_path;
	int split_headers;
	int batch;
	int reuse_fd_for_file;
} opt = { .in = IN_RECV, .out = OUT_SEND, .accept4 = 1 };

/* Response bodies; the file body is filled at start-up. */
enum body_id {
	B_NONE = -1,
	B_HELLO,
	B_CREATED,
	B_OK,
	B_BOOM,
	B_SLOW,
	B_LATE,
	B_NOT_FOUND,
	B_FILE,
	NR_BODIES
};

static char file_body[FILE_BODY_LEN + 1];
static const char *bodies[NR_BODIES] = { "hello", "created", "ok",	  "boom",
					 "slow",  "late",    "not found", file_body };
static off_t body_offset[NR_BODIES]; /* where each body is in body_fd (sendfile) */
static int body_fd = -1;

struct conn {
	int fd;
	size_t len;	   /* bytes in buf */
	int in_body;	   /* headers parsed, reading body_left more bytes */
	size_t body_left;  /* request body bytes still to read */
	int status;	   /* the answer to the request being read */
	enum body_id body; /* its body */
	int keep_alive;
	long long slow_at; /* GET /slow, /late: 1 until its body is in, then when to answer (ms) */
	int delay_ms;	   /* how long after its body is in */
	char buf[BUF_SIZE];
};

/* Responses queued for one flush (one syscall unless --split-headers or sendfile). */
static struct {
	int n;
	size_t hlen[MAX_QUEUE];
	enum body_id body[MAX_QUEUE];
	char hdr[MAX_QUEUE][HDR_SIZE];
} queue;

static char flat[MAX_QUEUE * (HDR_SIZE + FILE_BODY_LEN)];
static struct conn conns[MAX_CONNS];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t body_len(enum body_id b)
{
	return b == B_NONE ? 0 : strlen(bodies[b]);
}

/* One output syscall of family out over iov; returns bytes sent or -1. */
static ssize_t out_once(int fd, enum out_kind out, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	size_t len = 0;
	int i;

	if (out == OUT_WRITEV)
		return writev(fd, iov, n);
	if (out == OUT_SENDMSG)
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (out == OUT_SENDMMSG) {
		struct mmsghdr m = { .msg_hdr = msg };

		return sendmmsg(fd, &m, 1, MSG_NOSIGNAL) == 1 ? (ssize_t)m.msg_len : -1;
	}
	/* write, send, sendto (and sendfile's headers): one flat buffer */
	for (i = 0; i < n; i++) {
		memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (out == OUT_WRITE)
		return write(fd, flat, len);
	if (out == OUT_SENDTO)
		return sendto(fd, flat, len, MSG_NOSIGNAL, NULL, 0);
	return send(fd, flat, len, MSG_NOSIGNAL);
}

/* Send all of iov: one syscall, then more of the same family for a short write. */
static int out_all(int fd, enum out_kind out, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t got = out_once(fd, out, iov, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	return 0;
}

static int sendfile_all(int fd, enum body_id b)
{
	off_t off = body_offset[b];
	size_t left = body_len(b);

	while (left > 0) {
		ssize_t got = sendfile(fd, body_fd, &off, left);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		left -= (size_t)got;
	}
	return 0;
}

/* sendmmsg: one message per queued response, all in one syscall. */
static int flush_mmsg(int fd)
{
	struct mmsghdr msgs[MAX_QUEUE];
	struct iovec iov[MAX_QUEUE][2];
	int i, sent;

	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < queue.n; i++) {
		iov[i][0] = (struct iovec){ queue.hdr[i], queue.hlen[i] };
		iov[i][1] = (struct iovec){ (void *)bodies[queue.body[i] < 0 ? 0 : queue.body[i]],
					    body_len(queue.body[i]) };
		msgs[i].msg_hdr.msg_iov = iov[i];
		msgs[i].msg_hdr.msg_iovlen = queue.body[i] == B_NONE ? 1 : 2;
	}
	for (i = 0; i < queue.n; i += sent) {
		sent = sendmmsg(fd, msgs + i, (unsigned int)(queue.n - i), MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR) {
			sent = 0;
			continue;
		}
		if (sent <= 0)
			return -1;
		/* the last message sent may be short: finish it with sendmsg */
		if (msgs[i + sent - 1].msg_len <
		    iov[i + sent - 1][0].iov_len + iov[i + sent - 1][1].iov_len) {
			struct iovec *v = iov[i + sent - 1];
			size_t done = msgs[i + sent - 1].msg_len;
			int nv = (int)msgs[i + sent - 1].msg_hdr.msg_iovlen;

			if (done >= v[0].iov_len) {
				done -= v[0].iov_len;
				v++;
				nv--;
			}
			v->iov_base = (char *)v->iov_base + done;
			v->iov_len -= done;
			if (out_all(fd, OUT_SENDMMSG, v, nv) < 0)
				return -1;
		}
	}
	return 0;
}

/* Send every queued response with the chosen --out family. */
static int flush(int fd)
{
	struct iovec iov[2 * MAX_QUEUE];
	int i, n = 0, rc = 0;

	if (queue.n == 0)
		return 0;
	if (opt.out == OUT_SENDMMSG && !opt.split_headers) {
		rc = flush_mmsg(fd);
		queue.n = 0;
		return rc;
	}
	for (i = 0; i < queue.n && rc == 0; i++) {
		struct iovec h = { queue.hdr[i], queue.hlen[i] };
		struct iovec b = { (void *)(queue.body[i] == B_NONE ? "" : bodies[queue.body[i]]),
				   body_len(queue.body[i]) };

		if (opt.out == OUT_SENDFILE) {
			/* headers with send(), the body with sendfile() */
			rc = out_all(fd, OUT_SEND, &h, 1);
			if (rc == 0 && b.iov_len > 0)
				rc = sendfile_all(fd, queue.body[i]);
		} else if (opt.split_headers) {
			rc = out_all(fd, opt.out, &h, 1);
			if (rc == 0 && b.iov_len > 0)
				rc = out_all(fd, opt.out, &b, 1);
		} else {
			iov[n++] = h;
			if (b.iov_len > 0)
				iov[n++] = b;
		}
	}
	if (rc == 0 && n > 0)
		rc = out_all(fd, opt.out, iov, n);
	queue.n = 0;
	return rc;
}

static const char *reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
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

/* Queue a response; sent at once unless --batch. */
static int reply(int fd, int status, enum body_id body, int keep_alive)
{
	int n;

	if (queue.n == MAX_QUEUE && flush(fd) < 0)
		return -1;
	if (status == 100)
		n = snprintf(queue.hdr[queue.n], HDR_SIZE, "HTTP/1.1 100 Continue\r\n\r\n");
	else
		n = snprintf(queue.hdr[queue.n], HDR_SIZE,
			     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			     "Connection: %s\r\n\r\n",
			     status, reason(status), body_len(body),
			     keep_alive ? "keep-alive" : "close");
	if (n < 0 || n >= HDR_SIZE)
		return -1;
	queue.hlen[queue.n] = (size_t)n;
	queue.body[queue.n++] = status == 100 ? B_NONE : body;
	return opt.batch && status != 100 ? 0 : flush(fd);
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

/* The status and body of a request; *delay_ms is set for GET /slow and /late. */
static int route(const char *method, const char *path, size_t path_len, enum body_id *body,
		 int *delay_ms)
{
	*delay_ms = 0;
	if (is_route(method, path, path_len, "GET", "/hello")) {
		*body = B_HELLO;
		return 200;
	}
	if (is_route(method, path, path_len, "GET", "/file")) {
		*body = B_FILE;
		return 200;
	}
	if (is_route(method, path, path_len, "POST", "/items")) {
		*body = B_CREATED;
		return 201;
	}
	if ((strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0) &&
	    is_item_path(path, path_len)) {
		*body = B_OK;
		return 200;
	}
	if (is_route(method, path, path_len, "GET", "/boom")) {
		*body = B_BOOM;
		return 500;
	}
	if (is_route(method, path, path_len, "GET", "/slow")) {
		*delay_ms = SLOW_MS;
		*body = B_SLOW;
		return 200;
	}
	if (is_route(method, path, path_len, "GET", "/late")) {
		*delay_ms = LATE_MS;
		*body = B_LATE;
		return 202;
	}
	*body = B_NOT_FOUND;
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

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Parse the header block at the start of c->buf (complete, used bytes long). */
static int parse_request(struct conn *c, size_t used)
{
	const char *end = c->buf + used, *sp1, *sp2, *path, *q, *cl, *conn_hdr, *expect;
	char method[16];
	size_t path_len;
	int delay_ms;

	sp1 = memchr(c->buf, ' ', used);
	if (!sp1 || (size_t)(sp1 - c->buf) >= sizeof(method))
		return -1;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2)
		return -1;
	memcpy(method, c->buf, (size_t)(sp1 - c->buf));
	method[sp1 - c->buf] = '\0';
	path = sp1 + 1;
	q = memchr(path, '?', (size_t)(sp2 - path));
	path_len = (size_t)((q ? q : sp2) - path);

	c->keep_alive = strncmp(sp2 + 1, "HTTP/1.1", 8) == 0;
	conn_hdr = find_header(c->buf, end, "Connection");
	if (conn_hdr && strncasecmp(conn_hdr, "close", 5) == 0)
		c->keep_alive = 0;
	else if (conn_hdr && strncasecmp(conn_hdr, "keep-alive", 10) == 0)
		c->keep_alive = 1;

	cl = find_header(c->buf, end, "Content-Length");
	c->body_left = cl ? strtoul(cl, NULL, 10) : 0;
	expect = find_header(c->buf, end, "Expect");

	c->status = route(method, path, path_len, &c->body, &delay_ms);
	c->delay_ms = delay_ms;
	c->slow_at = delay_ms ? 1 : 0; /* armed once the body is in */
	c->in_body = 1;
	consume(c, used);
	if (expect && strncasecmp(expect, "100-continue", 12) == 0 && c->body_left > c->len)
		return reply(c->fd, 100, B_NONE, 1);
	return 0;
}

/*
 * Handle every complete request in c->buf. Returns 0 to keep the connection,
 * -1 to close it (after flushing what is queued).
 */
static int serve(struct conn *c)
{
	for (;;) {
		const char *hdr_end;

		if (c->slow_at > 1)
			return 0; /* answer pending: read on, parse later */
		if (c->in_body) {
			size_t n = c->body_left < c->len ? c->body_left : c->len;

			consume(c, n);
			c->body_left -= n;
			if (c->body_left > 0)
				return 0;
			if (c->slow_at == 1) {
				/* now_ms truncates: one more so that delay_ms pass in full */
				c->slow_at = now_ms() + c->delay_ms + 1;
				return 0;
			}
			c->in_body = 0;
			if (reply(c->fd, c->status, c->body, c->keep_alive) < 0 || !c->keep_alive)
				return -1;
			continue;
		}
		if (c->len == 0)
			return 0;
		hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!hdr_end)
			return c->len == sizeof(c->buf) ? -1 : 0;
		if (parse_request(c, (size_t)(hdr_end + 4 - c->buf)) < 0)
			return -1;
	}
}

/* The slow answer is due: send it, then go on with what was read meanwhile. */
static int serve_slow(struct conn *c)
{
	c->slow_at = 0;
	c->in_body = 0;
	if (reply(c->fd, c->status, c->body, c->keep_alive) < 0 || !c->keep_alive)
		return -1;
	return serve(c);
}

/* One input syscall of the chosen family into the free end of c->buf. */
static ssize_t read_some(struct conn *c)
{
	char *p = c->buf + c->len;
	size_t room = sizeof(c->buf) - c->len, half = room / 2;
	struct iovec iov[2] = { { p, half }, { p + half, room - half } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct mmsghdr mmsg[2];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	int n;

	switch (opt.in) {
	case IN_READ:
		return read(c->fd, p, room);
	case IN_READV:
		return readv(c->fd, iov, 2);
	case IN_RECV:
		return recv(c->fd, p, room, 0);
	case IN_RECVFROM:
		return recvfrom(c->fd, p, room, 0, (struct sockaddr *)&from, &flen);
	case IN_RECVMSG:
		return recvmsg(c->fd, &msg, 0);
	case IN_RECVMMSG:
		/* two messages into the two halves; the second only if data is already there */
		memset(mmsg, 0, sizeof(mmsg));
		mmsg[0].msg_hdr.msg_iov = &iov[0];
		mmsg[0].msg_hdr.msg_iovlen = 1;
		mmsg[1].msg_hdr.msg_iov = &iov[1];
		mmsg[1].msg_hdr.msg_iovlen = 1;
		n = recvmmsg(c->fd, mmsg, 2, MSG_WAITFORONE, NULL);
		if (n <= 0)
			return n;
		if (n == 2 && mmsg[0].msg_len < half)
			memmove(p + mmsg[0].msg_len, p + half, mmsg[1].msg_len);
		return (ssize_t)mmsg[0].msg_len + (n == 2 ? (ssize_t)mmsg[1].msg_len : 0);
	}
	errno = EINVAL;
	return -1;
}

/* Write a status line into a temp file: it likely gets the fd just closed. */
static void write_temp_file(int closed_fd)
{
	static const char line[] = "HTTP/1.1 200 OK\r\n\r\n";
	const char *dir = getenv("TMPDIR");
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/c_server.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("c_server: mkstemp");
		return;
	}
	unlink(path);
	if (write(fd, line, sizeof(line) - 1) < 0)
		perror("c_server: write temp file");
	close(fd);
	fprintf(stderr, "c_server: closed fd %d, wrote file as fd %d\n", closed_fd, fd);
}

static void close_conn(struct conn *c)
{
	int fd = c->fd;

	if (opt.shutdown)
		shutdown(fd, SHUT_WR);
	close(fd);
	memset(c, 0, offsetof(struct conn, buf));
	c->fd = -1;
	if (opt.reuse_fd_for_file)
		write_temp_file(fd);
}

/* Flush what serving queued; close on error or when asked to. */
static void finish(struct conn *c, int rc)
{
	if (flush(c->fd) < 0 || rc < 0)
		close_conn(c);
}

static int make_body_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	off_t off = 0;
	int i;

	snprintf(path, sizeof(path), "%s/c_server.XXXXXX", dir && *dir ? dir : "/tmp");
	body_fd = mkstemp(path);
	if (body_fd < 0)
		return -1;
	unlink(path);
	for (i = 0; i < NR_BODIES; i++) {
		size_t len = body_len((enum body_id)i);

		body_offset[i] = off;
		if (write(body_fd, bodies[i], len) != (ssize_t)len)
			return -1;
		off += (off_t)len;
	}
	return 0;
}

static int pick(const char *arg, const char *const *names, int n, const char *what)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	fprintf(stderr, "c_server: bad --%s \"%s\"\n", what, arg);
	exit(2);
}

static int parse_args(int argc, char **argv)
{
	static const char *const accepts[] = { "accept", "accept4" };
	static const char *const closes[] = { "close", "shutdown" };
	static const struct option longopts[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "accept", required_argument, NULL, 'a' },
		{ "close", required_argument, NULL, 'c' },
		{ "ipv6", no_argument, NULL, '6' },
		{ "unix", required_argument, NULL, 'u' },
		{ "split-headers", no_argument, NULL, 's' },
		{ "batch", no_argument, NULL, 'b' },
		{ "reuse-fd-for-file", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *arg;
	char *end;
	long port;
	int o;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'i':
			opt.in = (enum in_kind)pick(optarg, in_names, 6, "in");
			break;
		case 'o':
			opt.out = (enum out_kind)pick(optarg, out_names, 7, "out");
			break;
		case 'a':
			opt.accept4 = pick(optarg, accepts, 2, "accept");
			break;
		case 'c':
			opt.shutdown = pick(optarg, closes, 2, "close");
			break;
		case '6':
			opt.ipv6 = 1;
			break;
		case 'u':
			opt.unix_path = optarg;
			break;
		case 's':
			opt.split_headers = 1;
			break;
		case 'b':
			opt.batch = 1;
			break;
		case 'r':
			opt.reuse_fd_for_file = 1;
			break;
		default:
			exit(2);
		}
	}
	arg = optind < argc ? argv[optind] : getenv("PORT");
	if (!arg || !*arg)
		return 8900;
	port = strtol(arg, &end, 10);
	if (*end || port < 0 || port > 65535) {
		fprintf(stderr, "c_server: bad port \"%s\"\n", arg);
		exit(2);
	}
	return (int)port;
}

/* The listening socket; prints the "listening" line. */
static int listen_on(int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&ss;
	socklen_t alen;
	int fd, one = 1;

	if (opt.unix_path) {
		un->sun_family = AF_UNIX;
		if (strlen(opt.unix_path) >= sizeof(un->sun_path)) {
			fprintf(stderr, "c_server: unix path too long\n");
			return -1;
		}
		strcpy(un->sun_path, opt.unix_path);
		unlink(opt.unix_path);
		alen = sizeof(*un);
	} else if (opt.ipv6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		in6->sin6_port = htons((unsigned short)port);
		alen = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in4->sin_port = htons((unsigned short)port);
		alen = sizeof(*in4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("c_server: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, alen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &alen) < 0) {
		perror("c_server: bind/listen");
		close(fd);
		return -1;
	}
	if (opt.unix_path)
		printf("listening %s\n", opt.unix_path);
	else
		printf("listening %d\n", ntohs(opt.ipv6 ? in6->sin6_port : in4->sin_port));
	fflush(stdout);
	return fd;
}

/* Milliseconds until the next slow answer is due, -1 if none. */
static int poll_timeout(void)
{
	long long next = 0, now = now_ms();
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0 && conns[i].slow_at > 1 &&
		    (next == 0 || conns[i].slow_at < next))
			next = conns[i].slow_at;
	if (next == 0)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static void accept_one(int lfd)
{
	int fd, i;

	if (opt.accept4)
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	else
		fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONNS && conns[i].fd >= 0; i++)
		;
	if (i == MAX_CONNS) {
		close(fd);
		return;
	}
	conns[i].fd = fd;
	if (opt.reuse_fd_for_file)
		fprintf(stderr, "c_server: accepted fd %d\n", fd);
}

int main(int argc, char **argv)
{
	struct pollfd pfds[MAX_CONNS + 1];
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd, i, port;

	port = parse_args(argc, argv);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (i = 0; i < FILE_BODY_LEN; i++)
		file_body[i] = i % 64 == 63 ? '\n' : (char)('a' + (i / 64) % 26);
	if (opt.out == OUT_SENDFILE && make_body_file() < 0) {
		perror("c_server: body file");
		return 1;
	}
	lfd = listen_on(port);
	if (lfd < 0)
		return 1;
	for (i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	while (!stop) {
		int n = 0, map[MAX_CONNS + 1];
		long long now;

		pfds[n].fd = lfd;
		pfds[n++].events = POLLIN;
		for (i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			map[n] = i;
			pfds[n].fd = conns[i].fd;
			/* a full buffer waits for a pending slow answer to drain it */
			pfds[n++].events = conns[i].len < BUF_SIZE ? POLLIN : 0;
		}
		if (poll(pfds, (nfds_t)n, poll_timeout()) < 0) {
			if (errno == EINTR)
				continue;
			perror("c_server: poll");
			return 1;
		}
		if (pfds[0].revents & POLLIN)
			accept_one(lfd);
		for (i = 1; i < n; i++) {
			struct conn *c = &conns[map[i]];
			ssize_t got;

			if (c->fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read_some(c);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				/* end of stream or reset: a pending answer is dropped */
				close_conn(c);
				continue;
			}
			c->len += (size_t)got;
			finish(c, serve(c));
		}
		now = now_ms();
		for (i = 0; i < MAX_CONNS; i++)
			if (conns[i].fd >= 0 && conns[i].slow_at > 1 && conns[i].slow_at <= now)
				finish(&conns[i], serve_slow(&conns[i]));
	}
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close_conn(&conns[i]);
	close(lfd);
	if (opt.unix_path)
		unlink(opt.unix_path);
	return 0;
}
