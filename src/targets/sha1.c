// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SHA-1 (FIPS 180-4), for service.instance.id's UUID v5 (resource.c). None
 * of the libraries the agent links exports one.
 */
#include <stdint.h>
#include <string.h>
#include "targets/sha1.h"

#define SHA1_BLOCK_LEN 64

static uint32_t rol32(uint32_t x, unsigned int n)
{
	return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const unsigned char *m)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;
	unsigned int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)m[4 * i] << 24 | (uint32_t)m[4 * i + 1] << 16 |
		       (uint32_t)m[4 * i + 2] << 8 | m[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sha1(const void *msg, size_t len, unsigned char digest[SHA1_DIGEST_LEN])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	unsigned char last[2 * SHA1_BLOCK_LEN] = { 0 };
	unsigned long long bits = (unsigned long long)len * 8;
	const unsigned char *m = msg;
	size_t i, rest = len % SHA1_BLOCK_LEN, tail;

	for (i = 0; i + SHA1_BLOCK_LEN <= len; i += SHA1_BLOCK_LEN)
		sha1_block(h, m + i);
	/* the padding: 0x80, zeros, the length in bits; in a second block if it does not fit */
	memcpy(last, m + i, rest);
	last[rest] = 0x80;
	tail = rest + 1 + 8 <= SHA1_BLOCK_LEN ? SHA1_BLOCK_LEN : 2 * SHA1_BLOCK_LEN;
	for (i = 0; i < 8; i++)
		last[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < tail; i += SHA1_BLOCK_LEN)
		sha1_block(h, last + i);
	for (i = 0; i < SHA1_DIGEST_LEN; i++)
		digest[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}
