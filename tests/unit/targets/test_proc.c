// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /proc of one process (src/targets/proc.c): the stat parser on strings,
 * then the readers on this test process itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "targets/proc.h"

/* Fields 5 to 21 of a stat line, so that field 22 (starttime) comes next. */
#define STAT_5_TO_21 " 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "

static void test_stat(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_stat_parse("32734 (cat) R 32691 32691 24678 0 -1 4194304 98 0 0 0 "
					 "0 0 0 0 20 0 1 0 444906 3133440 409 1844674",
					 &st),
			 0);
	assert_string_equal(st.comm, "cat");
	assert_int_equal(st.ppid, 32691);
	assert_int_equal(st.start_ticks, 444906);

	/* a comm may hold spaces and parentheses: it ends at the last ')' */
	assert_int_equal(proc_stat_parse("7 (a) b (c) S 42" STAT_5_TO_21 "99\n", &st), 0);
	assert_string_equal(st.comm, "a) b (c");
	assert_int_equal(st.ppid, 42);
	assert_int_equal(st.start_ticks, 99);
	assert_int_equal(proc_stat_parse("7 (a) b) (c) S 43" STAT_5_TO_21 "98", &st), 0);
	assert_string_equal(st.comm, "a) b) (c");
	assert_int_equal(st.ppid, 43);
	assert_int_equal(st.start_ticks, 98);
	assert_int_equal(proc_stat_parse("7 (a) b) S 1" STAT_5_TO_21 "97 0 0\n", &st), 0);
	assert_string_equal(st.comm, "a) b");
	assert_int_equal(st.start_ticks, 97);

	/* pid 1 has ppid 0; a comm longer than the kernel's is cut */
	assert_int_equal(proc_stat_parse("1 (systemd) S 0" STAT_5_TO_21 "5", &st), 0);
	assert_int_equal(st.ppid, 0);
	assert_string_equal(st.comm, "systemd");
	assert_int_equal(proc_stat_parse("1 (0123456789abcdefghij) S 5" STAT_5_TO_21 "5", &st), 0);
	assert_int_equal(st.ppid, 5);
	assert_string_equal(st.comm, "0123456789abcde");

	/* not stat lines */
	assert_int_equal(proc_stat_parse("", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("no parenthesis", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("12 (node S 1 2", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("12 node) S 1 2", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("12 (node) S", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("12 (node) S x", &st), -EINVAL);
	assert_int_equal(proc_stat_parse("12 (node) S x" STAT_5_TO_21 "5", &st), -EINVAL);
	/* stopping before the start time, or a start time that is not a number */
	assert_int_equal(proc_stat_parse("7 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0", &st),
			 -EINVAL);
	assert_int_equal(proc_stat_parse("7 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n", &st),
			 -EINVAL);
	assert_int_equal(proc_stat_parse("7 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 x", &st),
			 -EINVAL);
	assert_int_equal(proc_stat_parse("7 (a) S 1" STAT_5_TO_21 "12x", &st), -EINVAL);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/test_proc.XXXXXX", buf[64], small[5];
	int fd;

	(void)state;
	/* the trailing newline is left out; what does not fit is cut */
	assert_int_equal(proc_read_file("/proc/self/comm", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "test_proc");
	assert_int_equal(proc_read_file("/proc/self/comm", small, sizeof(small)), 0);
	assert_string_equal(small, "test");

	assert_int_equal(proc_read_file("/proc/self/no-such-file", buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(proc_read_file(path, buf, sizeof(buf)), -ENODATA);
	assert_string_equal(buf, "");
	unlink(path);
}

/* The readers on this process, and on one that does not exist. */
static void test_self(void **state)
{
	pid_t gone = 0x7ffffff0;
	struct proc_stat st;
	char buf[4096];
	size_t len = 0;
	char *env;

	(void)state;
	assert_true(proc_exists(getpid()));
	assert_false(proc_exists(gone));

	assert_int_equal(proc_stat_read(getpid(), &st), 0);
	assert_string_equal(st.comm, "test_proc");
	assert_int_equal(st.ppid, getppid());
	assert_true(st.start_ticks > 0);
	assert_int_equal(proc_stat_read(gone, &st), -ENOENT);

	assert_int_equal(proc_comm(getpid(), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "test_proc");
	assert_int_equal(proc_comm(gone, buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");

	assert_int_equal(proc_exe(getpid(), buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "/test_proc"));
	assert_int_equal(proc_exe(gone, buf, sizeof(buf)), -ENOENT);

	/* /proc/PID/environ is the environment the process started with */
	env = proc_environ(getpid(), &len);
	assert_non_null(env);
	free(env);
	assert_null(proc_environ(gone, &len));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(proc_getenv(getpid(), "OA_TEST_NO_SUCH_VARIABLE", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(proc_getenv(gone, "PATH", buf, sizeof(buf)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
