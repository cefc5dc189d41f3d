// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* SHA-1 (src/targets/sha1.c) against the FIPS 180 examples, and across its padding cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "targets/sha1.h"

/* The digest of msg[0..len) in hex. */
static const char *sha1_hex(const void *msg, size_t len)
{
	static char hex[2 * SHA1_DIGEST_LEN + 1];
	unsigned char d[SHA1_DIGEST_LEN];

	sha1(msg, len, d);
	for (int i = 0; i < SHA1_DIGEST_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return hex;
}

static void test_fips180(void **state)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char two_blocks_long[] =
		"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
		"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	size_t million = 1000000;
	char *a = malloc(million);

	(void)state;
	assert_string_equal(sha1_hex("abc", 3), "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_string_equal(sha1_hex(two_blocks, sizeof(two_blocks) - 1),
			    "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	assert_string_equal(sha1_hex(two_blocks_long, sizeof(two_blocks_long) - 1),
			    "a49b2446a02c645bf419f995b67091253a04a259");
	assert_non_null(a);
	memset(a, 'a', million);
	assert_string_equal(sha1_hex(a, million), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	free(a);
}

static void test_padding(void **state)
{
	char a[64];

	(void)state;
	memset(a, 'a', sizeof(a));
	assert_string_equal(sha1_hex("", 0), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	/* 55 bytes: the padding still fits the block; 56 (above): it takes another; 64: whole blocks */
	assert_string_equal(sha1_hex(a, 55), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
	assert_string_equal(sha1_hex(a, 64), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips180),
		cmocka_unit_test(test_padding),
	};

	return cmocka_run_group_tests_name("sha1", tests, NULL, NULL);
}
