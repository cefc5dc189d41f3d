/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libFuzzer harness for the request-line parser of include/http_parse.h
 * (built and run by `make fuzz`). Each input is parsed twice: as the host
 * parses a window (http_parse_request, at most HTTP_WINDOW bytes) and as
 * the kernel feeds a line that spans reads (http_request_step byte by byte,
 * up to the kernel's 4 KiB line limit). Both must keep the contract:
 *  - the path is NUL-terminated, at most OA_MAX_PATH - 1 bytes, zero after;
 *  - it is the raw path with each id segment "{id}", cut to that length,
 *    never inside a "{id}", and truncated is set exactly when bytes were lost;
 *  - the id rule the kernel applies (shared with route.c's route_is_id)
 *    is the one written out plainly below, on every segment of the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "metrics/route.h"

/* The kernel parses the first 4 KiB of a request line and skips the rest (include/http_frame.h). */
#define KERNEL_MAX_LINE 4096

#define CHECK(cond, ...)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "fuzz_http_parse: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                    \
			fputc('\n', stderr);                             \
			abort();                                         \
		}                                                        \
	} while (0)

/* The id rule as the docs state it, independent of the parser's flags. */
static int plain_is_id(const char *s, size_t n)
{
	size_t i, digits = 0, hex = 0;
	int uuid = n == HTTP_UUID_LEN;

	for (i = 0; i < n; i++) {
		char c = s[i];
		int is_hex =
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		digits += c >= '0' && c <= '9';
		hex += is_hex;
		if (i == 8 || i == 13 || i == 18 || i == 23)
			uuid &= c == '-';
		else
			uuid &= is_hex;
	}
	return n && (digits == n || (hex == n && digits && n >= HTTP_MIN_HEX_ID) || uuid);
}

/*
 * What the path must be for raw[0..len), a path whose last segment ended:
 * ids collapsed, cut at OA_MAX_PATH - 1 bytes, a "{id}" left out whole.
 * Returns whether bytes were lost.
 */
static int expected_path(const char *raw, size_t len, char *want)
{
	const size_t max = OA_MAX_PATH - 1;
	size_t i = 0, o = 0;

	memset(want, 0, OA_MAX_PATH);
	while (i < len) {
		size_t n = 1, w;
		const char *piece = raw + i;
		int id;

		while (raw[i] != '/' && i + n < len && raw[i + n] != '/')
			n++;
		id = raw[i] != '/' && plain_is_id(raw + i, n);
		CHECK(raw[i] == '/' || id == (int)route_is_id(raw + i, n),
		      "route_is_id and the plain rule disagree on \"%.*s\"", (int)n, raw + i);
		if (id)
			piece = HTTP_ID;
		w = id ? HTTP_ID_LEN : n;
		if (o + w > max) {
			if (!id)
				memcpy(want + o, piece, max - o);
			return 1;
		}
		memcpy(want + o, piece, w);
		o += w;
		i += n;
	}
	return 0;
}

static size_t check_terminated(const char *path)
{
	const char *nul = memchr(path, 0, OA_MAX_PATH);
	size_t plen, k;

	CHECK(nul, "path has no NUL in %d bytes", OA_MAX_PATH);
	plen = nul - path;
	CHECK(plen > 0, "empty path for a request line");
	for (k = plen; k < OA_MAX_PATH; k++)
		CHECK(!path[k], "byte %zu after the NUL is %#x", k, (unsigned char)path[k]);
	return plen;
}

/*
 * A request line's path: raw is what follows the method's space, n the
 * bytes up to its end (ended says a terminator was seen there).
 */
static void check_path(const char *path, const struct http_request_info *info, const char *raw,
		       size_t n, int ended)
{
	char want[OA_MAX_PATH];
	size_t plen = check_terminated(path), m, wlen, rest;
	int lost;

	if (ended) {
		lost = expected_path(raw, n, want);
		CHECK(!memcmp(path, want, OA_MAX_PATH), "path \"%s\", want \"%s\"", path, want);
		CHECK(info->truncated == lost, "truncated %d, %s lost", info->truncated,
		      lost ? "bytes" : "nothing");
		return;
	}
	/* Cut before its end: the segments that ended, then the raw start of the last. */
	for (m = n; m > 0 && raw[m - 1] != '/'; m--)
		;
	lost = expected_path(raw, m, want);
	wlen = strlen(want);
	if (lost) {
		CHECK(!memcmp(path, want, OA_MAX_PATH), "cut path \"%s\", want \"%s\"", path, want);
		CHECK(info->truncated, "bytes lost before the cut, not reported");
		return;
	}
	CHECK(!memcmp(path, want, wlen), "cut path \"%s\" does not start with \"%s\"", path, want);
	rest = n - m;
	if (wlen + rest > OA_MAX_PATH - 1)
		rest = OA_MAX_PATH - 1 - wlen;
	CHECK(plen == wlen + rest && !memcmp(path + wlen, raw + m, rest),
	      "cut path \"%s\": the unfinished segment is not kept raw", path);
	CHECK(info->truncated == (wlen + (n - m) > OA_MAX_PATH - 1),
	      "cut path: truncated %d for %zu + %zu bytes", info->truncated, wlen, n - m);
}

/* Where the request target starts and how long its path is; 0 if no space. */
static const char *find_path(const char *b, size_t len, size_t *n, int *ended)
{
	const char *sp = memchr(b, ' ', len), *end = b + len, *p;

	if (!sp)
		return NULL;
	for (p = sp + 1; p < end && !strchr("?# \r\n", *p); p++)
		;
	*n = p - (sp + 1);
	*ended = p < end;
	return sp + 1;
}

static void fuzz_window(const char *b, size_t len)
{
	struct http_request_info info;
	char path[OA_MAX_PATH];
	const char *raw;
	size_t win = len < HTTP_WINDOW ? len : HTTP_WINDOW, n;
	int ended;

	memset(path, 0xAA, sizeof(path));
	if (http_parse_request(b, (__u32)len, &info, path))
		return;
	raw = find_path(b, win, &n, &ended);
	CHECK(raw, "a request line without a space");
	check_path(path, &info, raw, n, ended);
}

/* As the kernel drives it: bytes one at a time, the line finished only when it ends. */
static void fuzz_stream(const char *b, size_t len)
{
	struct http_req_parser p = { 0 };
	struct http_request_info info;
	char path[OA_MAX_PATH] = { 0 };
	const char *raw;
	size_t i, n;
	int r = 0, ended;

	for (i = 0; i < len && i < KERNEL_MAX_LINE && !r; i++)
		r = http_request_step(&p, path, b[i]);
	if (r <= 0)
		return;
	http_path_settle(&p, path);
	if (http_request_finish(&p, &info))
		return;
	raw = find_path(b, i, &n, &ended);
	CHECK(raw && ended, "a complete line without a space or an end of path");
	check_path(path, &info, raw, n, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so a read past len is ASan's to see. */
	char *b = malloc(size ? size : 1);

	if (!b)
		return 0;
	memcpy(b, data, size);
	fuzz_window(b, size);
	fuzz_stream(b, size);
	free(b);
	return 0;
}
