// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The endpoint's input handling (--listen addresses, Accept-Encoding and
 * Accept), and its answers over a socket: a body larger than the render
 * queue goes out chunked while it is rendered, a smaller or gzipped one
 * with a Content-Length, a failed render as a 500.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "body_stream.h"
#include "http_server.h"

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	(void)state;
	assert_int_equal(parse_listen("127.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 9464);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(parse_listen("[::1]:8080", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 8080);

	assert_int_equal(parse_listen("0.0.0.0:1", &ss, &len), 0);

	assert_int_not_equal(parse_listen("9464", &ss, &len), 0);
	assert_int_not_equal(parse_listen(":9464", &ss, &len), 0);
	assert_int_not_equal(parse_listen("127.0.0.1:", &ss, &len), 0);
	assert_int_not_equal(parse_listen("127.0.0.1:http", &ss, &len), 0);
	assert_int_not_equal(parse_listen("[::1:9464", &ss, &len), 0);
}

static void test_accepts_gzip(void **state)
{
	(void)state;
	assert_true(accepts_gzip("gzip"));
	assert_true(accepts_gzip("gzip, deflate, br"));
	assert_true(accepts_gzip("deflate,GZIP"));
	assert_true(accepts_gzip("br;q=1.0, gzip;q=0.8"));
	assert_false(accepts_gzip("gzip;q=0"));
	assert_false(accepts_gzip("gzip; q=0.000"));
	assert_false(accepts_gzip("deflate, br"));
	assert_false(accepts_gzip("x-gzip2"));
	assert_false(accepts_gzip("identity"));
	assert_false(accepts_gzip(""));
}

#define OM   OA_FORMAT_OPENMETRICS
#define PROM OA_FORMAT_PROMETHEUS
/* What Prometheus 2.x sends by default, and Prometheus 3's default. */
#define PROM2_ACCEPT                                                                             \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;" \
	"q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define PROM3_ACCEPT                                                                 \
	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"     \
	"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;" \
	"escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

static void test_negotiate_format(void **state)
{
	(void)state;
	assert_int_equal(negotiate_format(PROM2_ACCEPT), OM);
	assert_int_equal(negotiate_format(PROM3_ACCEPT), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text; version=1.0.0"), OM);
	assert_int_equal(negotiate_format("Application/OpenMetrics-Text; Version=\"1.0.0\""), OM);
	assert_int_equal(negotiate_format("text/plain;q=0.5, application/openmetrics-text"), OM);
	/* equal q: the client named OpenMetrics */
	assert_int_equal(negotiate_format("application/openmetrics-text, text/plain"), OM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.3,*/*;q=0.3"), OM);

	/* no header, wildcards only, text preferred, or OpenMetrics refused */
	assert_int_equal(negotiate_format(NULL), PROM);
	assert_int_equal(negotiate_format(""), PROM);
	assert_int_equal(negotiate_format("*/*"), PROM);
	assert_int_equal(negotiate_format("application/*"), PROM);
	assert_int_equal(negotiate_format("text/plain;version=0.0.4"), PROM);
	assert_int_equal(negotiate_format("text/plain, application/openmetrics-text;q=0.9"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,text/*"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0.5,*/*;q=0.6"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=0"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text;q=abc"), PROM);
	/* a version the agent does not write */
	assert_int_equal(negotiate_format("application/openmetrics-text; version=0.0.1"), PROM);
	assert_int_equal(negotiate_format("application/openmetrics-text; version=2.0.0,"
					  "text/plain;q=0.1"),
			 PROM);
	assert_int_equal(negotiate_format("application/json"), PROM);
	assert_int_equal(negotiate_format(",,;,=;q"), PROM);
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(format_content_type(PROM), "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(format_content_type(OM),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* What the fake render writes: len bytes of a pattern, or an error. */
struct fake_body {
	size_t len;
	int fail;
};

static char pattern_at(size_t i)
{
	return (char)('A' + (i * 13 + i / 1000) % 26);
}

static int fake_render(void *ctx, enum oa_endpoint ep, enum oa_format fmt, FILE *out)
{
	const struct fake_body *b = ctx;
	char line[1000];

	(void)ep;
	(void)fmt;
	if (b->fail)
		return -1;
	for (size_t done = 0; done < b->len;) {
		size_t n = b->len - done < sizeof(line) ? b->len - done : sizeof(line);

		for (size_t i = 0; i < n; i++)
			line[i] = pattern_at(done + i);
		if (fwrite(line, 1, n, out) != n)
			return -1;
		done += n;
	}
	return 0;
}

/* A port nothing listens on now (the kernel's pick for a socket bound to port 0). */
static unsigned short free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* The whole answer to one GET (the server closes the connection); *len its size. */
static char *http_get(unsigned short port, const char *path, const char *extra, size_t *len)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap), req[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t got;

	assert_non_null(buf);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n",
		 path, extra);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((got = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)got;
		if (cap - n < 65536) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The value of a response header (case as libmicrohttpd writes it), or NULL. */
static const char *header(const char *resp, const char *name, char *out, size_t outlen)
{
	const char *end = strstr(resp, "\r\n\r\n"), *p;
	char key[64];

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	p = strstr(resp, key);
	if (!p || p > end)
		return NULL;
	p += strlen(key);
	snprintf(out, outlen, "%.*s", (int)strcspn(p, "\r"), p);
	return out;
}

/* The body of a response, chunked or not; *len its size. */
static char *body_of(const char *resp, size_t resp_len, size_t *len)
{
	const char *p = strstr(resp, "\r\n\r\n") + 4, *end = resp + resp_len;
	char *body = malloc(resp_len + 1), te[64];
	size_t n = 0;

	assert_non_null(body);
	if (!header(resp, "Transfer-Encoding", te, sizeof(te))) {
		n = (size_t)(end - p);
		memcpy(body, p, n);
		*len = n;
		return body;
	}
	assert_string_equal(te, "chunked");
	for (;;) {
		char *next;
		size_t k = strtoul(p, &next, 16);

		p = strstr(next, "\r\n") + 2;
		if (!k)
			break;
		assert_true(p + k + 2 <= end);
		memcpy(body + n, p, k);
		n += k;
		p += k + 2;
	}
	*len = n;
	return body;
}

static void assert_pattern(const char *buf, size_t len, size_t want)
{
	assert_int_equal(len, want);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_at(i))
			fail_msg("byte %zu of %zu differs", i, len);
}

static void test_serve_bodies(void **state)
{
	struct fake_body b = { 0 };
	unsigned short port = free_port();
	char listen[32], value[64], *resp, *body, *plain;
	size_t resp_len, len;
	struct http_server *srv;
	z_stream zs = { 0 };

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	srv = http_server_serve(listen, true, "", fake_render, &b);
	assert_non_null(srv);

	/* larger than the queue: chunked, sent while rendered, whole */
	b.len = 5 * BODY_QUEUE_MAX + 17;
	resp = http_get(port, "/metrics/otel", "", &resp_len);
	assert_true(!strncmp(resp, "HTTP/1.1 200", 12));
	assert_null(header(resp, "Content-Encoding", value, sizeof(value)));
	assert_non_null(header(resp, "Transfer-Encoding", value, sizeof(value)));
	body = body_of(resp, resp_len, &len);
	assert_pattern(body, len, b.len);
	free(resp);
	free(body);

	/* small: rendered whole before sending, with its length */
	b.len = 5000;
	resp = http_get(port, "/metrics", "", &resp_len);
	assert_true(!strncmp(resp, "HTTP/1.1 200", 12));
	assert_string_equal(header(resp, "Content-Length", value, sizeof(value)), "5000");
	assert_string_equal(header(resp, "Content-Type", value, sizeof(value)),
			    "text/plain; version=0.0.4; charset=utf-8");
	body = body_of(resp, resp_len, &len);
	assert_pattern(body, len, b.len);
	free(resp);
	free(body);

	/* gzip: valid gzip of the whole body */
	b.len = 3 * BODY_QUEUE_MAX;
	resp = http_get(port, "/metrics/otel", "Accept-Encoding: gzip\r\n", &resp_len);
	assert_string_equal(header(resp, "Content-Encoding", value, sizeof(value)), "gzip");
	body = body_of(resp, resp_len, &len);
	plain = malloc(b.len + 1);
	assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
	zs.next_in = (Bytef *)body;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)plain;
	zs.avail_out = (uInt)b.len + 1;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	inflateEnd(&zs);
	assert_pattern(plain, zs.total_out, b.len);
	free(plain);
	free(resp);
	free(body);

	/* a render that fails: 500, and the server goes on */
	b.fail = 1;
	resp = http_get(port, "/metrics/otel", "", &resp_len);
	assert_true(!strncmp(resp, "HTTP/1.1 500", 12));
	free(resp);
	b.fail = 0;
	b.len = 10;
	resp = http_get(port, "/metrics/otel", "", &resp_len);
	assert_true(!strncmp(resp, "HTTP/1.1 200", 12));
	free(resp);

	http_server_stop(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),	 cmocka_unit_test(test_accepts_gzip),
		cmocka_unit_test(test_negotiate_format), cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_serve_bodies),
	};

	return cmocka_run_group_tests_name("http_server", tests, NULL, NULL);
}
