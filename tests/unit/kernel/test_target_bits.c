// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * target_bits from user space: the map's size from pid_max (and from what
 * cannot be read), and bits set and cleared through the shared mapping of
 * a real map, as the kernel's programs read them. The map part needs the
 * rights to create BPF maps; skipped without them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "kernel/target_bits.h"
#include "otel_agent.h"

/* target_bits_words of a pid_max file holding text (NULL: no file). */
static __u32 words_for(const char *text)
{
	char path[] = "/tmp/oa_pid_max_XXXXXX";
	int fd = mkstemp(path);
	__u32 words;

	assert_true(fd >= 0);
	if (text)
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (!text)
		unlink(path);
	words = target_bits_words(path);
	unlink(path);
	return words;
}

static void test_words_from_pid_max(void **state)
{
	(void)state;
	assert_int_equal(words_for("32768\n"), 512);
	assert_int_equal(words_for("4194304\n"), OA_TARGET_BITS_WORDS);
	/* a partial word still holds the last pids */
	assert_int_equal(words_for("100\n"), 2);
	assert_int_equal(words_for("64\n"), 1);
}

static void test_words_when_unknown(void **state)
{
	(void)state;
	/* every tgid must fall inside: the largest pid_max the kernel allows */
	assert_int_equal(words_for(NULL), OA_TARGET_BITS_WORDS);
	assert_int_equal(words_for("x\n"), OA_TARGET_BITS_WORDS);
	assert_int_equal(words_for("0\n"), OA_TARGET_BITS_WORDS);
	assert_int_equal(words_for("99999999999\n"), OA_TARGET_BITS_WORDS);
}

static __u64 word_in_map(int fd, __u32 word)
{
	__u64 v = 0;

	assert_int_equal(bpf_map_lookup_elem(fd, &word, &v), 0);
	return v;
}

static void test_bits_through_mapping(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct target_bits tb = { 0 };
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_tbits", sizeof(__u32), sizeof(__u64), 4,
				&opts);

	(void)state;
	if (fd < 0)
		skip(); /* not root, or no BPF */
	assert_int_equal(target_bits_map(&tb, fd, 4), 0);
	target_bits_set(&tb, 0, true);
	target_bits_set(&tb, 65, true);
	target_bits_set(&tb, 127, true);
	target_bits_set(&tb, 255, true);
	assert_int_equal(word_in_map(fd, 0), 1ULL);
	assert_int_equal(word_in_map(fd, 1), (1ULL << 1) | (1ULL << 63));
	assert_int_equal(word_in_map(fd, 3), 1ULL << 63);
	/* clearing one leaves its word's others */
	target_bits_set(&tb, 127, false);
	assert_int_equal(word_in_map(fd, 1), 1ULL << 1);
	/* past the end (pid_max raised after load): nothing written, nothing broken */
	target_bits_set(&tb, 256, true);
	target_bits_set(&tb, 1000000, true);
	for (__u32 w = 0; w < 4; w++)
		assert_int_equal(word_in_map(fd, w), w == 0   ? 1ULL
						     : w == 1 ? 2ULL
						     : w == 3 ? 1ULL << 63
							      : 0);
	target_bits_unmap(&tb);
	assert_null((void *)tb.words);
	/* unmapped: a no-op */
	target_bits_set(&tb, 0, false);
	assert_int_equal(word_in_map(fd, 0), 1ULL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_from_pid_max),
		cmocka_unit_test(test_words_when_unknown),
		cmocka_unit_test(test_bits_through_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
