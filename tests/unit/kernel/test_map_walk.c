// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * map_walk over real kernel maps: every entry once over several batches, a
 * callback's error ends the walk, and a map type without batch operations
 * is read key by key after the callback is told to start over. Needs the
 * rights to create BPF maps; skipped without them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "kernel/map_walk.h"

#define ENTRIES 1000 /* several batches */

struct seen {
	unsigned int hits[ENTRIES];
	unsigned int restarts;
	unsigned int calls;
	unsigned int fail_at; /* calls after which the callback fails, 0: never */
};

static int count_entry(const void *key, const void *value, void *arg)
{
	struct seen *s = arg;
	__u32 k, v;

	if (!key) {
		memset(s->hits, 0, sizeof(s->hits));
		s->restarts++;
		return 0;
	}
	if (s->fail_at && ++s->calls == s->fail_at)
		return -42;
	memcpy(&k, key, sizeof(k));
	memcpy(&v, value, sizeof(v));
	assert_true(k < ENTRIES);
	assert_int_equal(v, k * 3);
	s->hits[k]++;
	return 0;
}

static int hash_map(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_walk", sizeof(__u32), sizeof(__u32),
				ENTRIES, NULL);

	for (__u32 k = 0; fd >= 0 && k < ENTRIES; k++) {
		__u32 v = k * 3;

		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	}
	return fd;
}

static void test_every_entry_once(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	int fd = hash_map();

	(void)state;
	if (fd < 0) {
		free(s);
		skip(); /* not root, or no BPF */
	}
	assert_int_equal(map_walk(fd, sizeof(__u32), sizeof(__u32), count_entry, s), 0);
	for (int k = 0; k < ENTRIES; k++)
		assert_int_equal(s->hits[k], 1);
	assert_int_equal(s->restarts, 0);
	close(fd);
	free(s);
}

static void test_callback_error_ends_walk(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	int fd = hash_map();

	(void)state;
	if (fd < 0) {
		free(s);
		skip();
	}
	s->fail_at = 300;
	assert_int_equal(map_walk(fd, sizeof(__u32), sizeof(__u32), count_entry, s), -42);
	assert_int_equal(s->calls, 300);
	close(fd);
	free(s);
}

/*
 * A stack-trace map has get_next_key but no batch lookup: the walk is told
 * to start over and goes on key by key (the map is empty: user space
 * cannot fill one).
 */
static void test_key_by_key(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	__u32 keys[1] = { 0 }, count = 1;
	__u64 vals[8];
	int fd = bpf_map_create(BPF_MAP_TYPE_STACK_TRACE, "test_walk_st", sizeof(__u32),
				sizeof(vals), 16, NULL);

	(void)state;
	if (fd < 0) {
		free(s);
		skip();
	}
	/* the premise: this kernel has no batch lookup for the type */
	assert_int_not_equal(bpf_map_lookup_batch(fd, NULL, keys, keys, vals, &count, NULL), 0);
	assert_int_not_equal(errno, ENOENT);
	assert_int_equal(map_walk(fd, sizeof(__u32), sizeof(vals), count_entry, s), 0);
	assert_int_equal(s->restarts, 1);
	close(fd);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_entry_once),
		cmocka_unit_test(test_callback_error_ends_walk),
		cmocka_unit_test(test_key_by_key),
	};

	return cmocka_run_group_tests_name("map_walk", tests, NULL, NULL);
}
