// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A step run in a short-lived child process whose fds come back over a
 * socketpair (SCM_RIGHTS). The loader runs libbpf's load and attach there:
 * libbpf 1.1 reads /sys/kernel/btf/vmlinux (5.5 MB on 6.x kernels) into a
 * buffer and copies it into the parsed BTF before it frees the buffer, two
 * copies at once, which made 11 MB of the agent's 17.7 MB start-up peak
 * for a process that serves at 7.5 MB. The programs, maps and links are
 * kernel objects: the fds are all the agent needs of them.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "kernel/load_child.h"
#include "log.h"

/* The answer: fn's result, and as many fds as it says in one SCM_RIGHTS message. */
static int send_answer(int sock, int result, const int *fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * LOAD_CHILD_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &result, .iov_len = sizeof(result) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t n = result > 0 ? (size_t)result : 0;

	if (n) {
		struct cmsghdr *cmsg;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(result) ? 0 : -errno;
}

static void close_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* The child's answer into fds and *nr; 0, its failure, or -errno. */
static int receive_answer(int sock, int *fds, size_t max, size_t *nr)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * LOAD_CHILD_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	int result = 0;
	struct iovec iov = { .iov_base = &result, .iov_len = sizeof(result) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cmsg;
	bool bad = false;
	ssize_t got;
	size_t n = 0;

	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		result = -errno;
		log_error("cannot receive the loaded BPF objects: %s", strerror(-result));
		return result;
	}
	if (got != (ssize_t)sizeof(result))
		return -ECHILD; /* end of file: the child is gone without a word */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		int got_fds[LOAD_CHILD_MAX_FDS];
		size_t k, keep;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		keep = k < max - n ? k : max - n;
		memcpy(got_fds, CMSG_DATA(cmsg), sizeof(int) * k);
		memcpy(fds + n, got_fds, sizeof(int) * keep);
		close_all(got_fds + keep, k - keep);
		n += keep;
		bad |= keep < k;
	}
	bad |= (msg.msg_flags & MSG_CTRUNC) || n != (result > 0 ? (size_t)result : 0);
	if (result >= 0 && bad) {
		log_error("the process loading the BPF programs handed over %zu fds, not %d", n,
			  result);
		result = -EPROTO;
	}
	if (result < 0) {
		close_all(fds, n);
		return result;
	}
	*nr = n;
	return 0;
}

static void run_child(int sock, pid_t parent, load_child_fn fn, void *ctx, int *fds, size_t max)
{
	int result;

	/* an agent killed while it waits takes its loader along */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	result = fn(ctx, fds, max);
	if (result > (int)max)
		result = -E2BIG;
	/* _exit: no atexit handlers or stdio flushes of the parent's state, no leak report */
	_exit(send_answer(sock, result, fds) || result < 0 ? 1 : 0);
}

/* Reaps the child; says how it ended when it did not answer. */
static void reap(pid_t pid, bool answered)
{
	struct rusage ru;
	int status = 0;
	pid_t got;

	do
		got = wait4(pid, &status, 0, &ru);
	while (got < 0 && errno == EINTR);
	if (got != pid)
		return;
	log_debug("the loading child process %d ended; its peak RSS was %ld KiB", (int)pid,
		  ru.ru_maxrss);
	if (answered)
		return;
	if (WIFSIGNALED(status))
		log_error("the process loading the BPF programs died of signal %d (%s)",
			  WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		log_error("the process loading the BPF programs exited (status %d) without "
			  "handing them over",
			  WEXITSTATUS(status));
}

int load_child_run(load_child_fn fn, void *ctx, int *fds, size_t max, size_t *nr)
{
	pid_t parent = getpid(), pid;
	int sv[2], err;

	*nr = 0;
	if (max > LOAD_CHILD_MAX_FDS)
		return -EINVAL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		log_error("cannot make a socket pair for the loading process: %s", strerror(-err));
		return err;
	}
	fflush(NULL); /* what stdio holds is written once, not again by the child */
	pid = fork();
	if (pid < 0) {
		err = -errno;
		log_error("cannot fork the process that loads the BPF programs: %s",
			  strerror(-err));
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		close(sv[0]);
		run_child(sv[1], parent, fn, ctx, fds, max);
	}
	close(sv[1]);
	err = receive_answer(sv[0], fds, max, nr);
	close(sv[0]);
	/* fn's own failure was said by the child; a child that died says nothing */
	reap(pid, err != -ECHILD);
	return err;
}
