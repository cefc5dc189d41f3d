// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * load_child_run: the fds the child opened come back and work here, a
 * failure the child reports comes back as it is, a child that dies is an
 * error, and what the child allocates never raises this process's peak RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernel/load_child.h"

#define CHILD_ALLOC (64u << 20)

/* A pipe with "ok" written into it: both ends. */
static int open_pipe(void *ctx, int *fds, size_t max)
{
	(void)ctx;
	if (max < 2 || pipe(fds) || write(fds[1], "ok", 2) != 2)
		return -EIO;
	return 2;
}

static void test_fds_come_back(void **state)
{
	int fds[4] = { -1, -1, -1, -1 };
	char buf[3] = "";
	size_t nr = 9;

	(void)state;
	assert_int_equal(load_child_run(open_pipe, NULL, fds, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(read(fds[0], buf, 2), 2);
	assert_string_equal(buf, "ok");
	assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
	close(fds[0]);
	close(fds[1]);
}

static int refuse(void *ctx, int *fds, size_t max)
{
	(void)ctx;
	(void)fds;
	(void)max;
	return -EACCES;
}

static void test_failure_comes_back(void **state)
{
	int fds[4];
	size_t nr = 9;

	(void)state;
	assert_int_equal(load_child_run(refuse, NULL, fds, 4, &nr), -EACCES);
	assert_int_equal(nr, 0);
}

static int die(void *ctx, int *fds, size_t max)
{
	(void)ctx;
	(void)fds;
	(void)max;
	raise(SIGKILL);
	return 0;
}

static void test_dead_child_is_an_error(void **state)
{
	int fds[4];
	size_t nr = 9;

	(void)state;
	assert_int_equal(load_child_run(die, NULL, fds, 4, &nr), -ECHILD);
	assert_int_equal(nr, 0);
}

/* More fds than the caller has room for: the child fails, nothing leaks here. */
static int too_many(void *ctx, int *fds, size_t max)
{
	(void)ctx;
	for (size_t i = 0; i < max; i++)
		fds[i] = STDERR_FILENO;
	return (int)max + 1;
}

static void test_too_many_fds(void **state)
{
	int fds[4];
	size_t nr = 9;

	(void)state;
	assert_int_equal(load_child_run(too_many, NULL, fds, 4, &nr), -E2BIG);
	assert_int_equal(nr, 0);
	assert_int_equal(load_child_run(too_many, NULL, fds, LOAD_CHILD_MAX_FDS + 1, &nr), -EINVAL);
}

/* Touches CHILD_ALLOC bytes, as libbpf's copies of the kernel BTF are touched. */
static int allocate(void *ctx, int *fds, size_t max)
{
	char *p = malloc(CHILD_ALLOC);

	(void)ctx;
	(void)max;
	if (!p)
		return -ENOMEM;
	memset(p, 1, CHILD_ALLOC);
	fds[0] = STDERR_FILENO;
	return 1;
}

static long vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kib;
}

static void test_child_memory_is_not_ours(void **state)
{
	long before = vm_hwm_kib(), after;
	int fds[1];
	size_t nr = 0;

	(void)state;
	assert_true(before > 0);
	assert_int_equal(load_child_run(allocate, NULL, fds, 1, &nr), 0);
	assert_int_equal(nr, 1);
	close(fds[0]);
	after = vm_hwm_kib();
	/* a quarter of what the child touched: an in-process run adds all of it */
	assert_true(after - before < (long)(CHILD_ALLOC >> 10) / 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_come_back),
		cmocka_unit_test(test_failure_comes_back),
		cmocka_unit_test(test_dead_child_is_an_error),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_child_memory_is_not_ours),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
