// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * privilege.c: --user resolution, and the seccomp allow-list in a child
 * process: what serving calls still works, the rest fails with EPERM (not
 * a kill) and is said once, threads start but processes do not.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "privilege.h"

/*
 * privilege.c lets LeakSanitizer's forked tracer through in a sanitized
 * build, and denies with a plain EPERM there, without the log line
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static void test_resolve_user(void **state)
{
	struct run_as u;

	(void)state;
	assert_int_equal(privilege_resolve_user("root", &u), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_int_equal(privilege_resolve_user("0", &u), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(privilege_resolve_user("nobody", &u), 0);
	assert_int_equal(u.uid, 65534);
	assert_string_equal(u.name, "nobody");
	/* a uid no passwd entry names: its number as gid too */
	assert_int_equal(privilege_resolve_user("4242", &u), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 4242);
	assert_int_equal(privilege_resolve_user("oa-no-such-user", &u), -ENOENT);
	assert_int_equal(privilege_resolve_user("-1", &u), -ENOENT);
}

static void *thread_ok(void *arg)
{
	return arg;
}

/* In the child, under the filter: 0 when each expectation holds, else the number of the first that failed. */
static int filtered_child(void)
{
	char buf[64];
	pthread_t t;
	void *ret = NULL;
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || privilege_seccomp())
		return 1;
	/* allowed: files, threads, kill(pid, 0) */
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0 || close(fd))
		return 2;
	if (pthread_create(&t, NULL, thread_ok, buf) || pthread_join(t, &ret) || ret != buf)
		return 3;
	if (kill(1, 0) && errno != EPERM)
		return 4;
	/* denied with EPERM, the process goes on */
	errno = 0;
	if (syscall(SYS_uname, buf) != -1 || errno != EPERM)
		return 5;
	errno = 0;
	if (syscall(SYS_uname, buf) != -1 || errno != EPERM)
		return 6; /* the second time too, said only once */
	if (kill(getpid(), SIGTERM) != -1 || errno != EPERM)
		return 7; /* a signal to a process: kill only probes */
	if (!SANITIZED && (fork() != -1 || errno != EPERM))
		return 8; /* a thread, not a process (LeakSanitizer's tracer is one) */
	return 0;
}

static void test_seccomp_allow_list(void **state)
{
	char out[4096] = "";
	int pipefd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		_exit(filtered_child());
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status)); /* not killed by the filter */
	assert_int_equal(WEXITSTATUS(status), 0);
#if (defined(__x86_64__) || defined(__aarch64__)) && !SANITIZED
	{
		char line[64];
		const char *first;

		snprintf(line, sizeof(line), "seccomp: denied syscall %d ", (int)SYS_uname);
		first = strstr(out, line);
		assert_non_null(first);
		assert_null(strstr(first + 1, line)); /* once per syscall */
	}
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_user),
		cmocka_unit_test(test_seccomp_allow_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
