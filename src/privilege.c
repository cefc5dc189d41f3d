// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Least privilege (privilege.h). Starting needs root or its capabilities
 * to load and attach; serving needs almost nothing: the BPF maps are open
 * fds, the listening socket is bound after the drop, and what is left to
 * read are the /proc files of targets that appear later. The capabilities
 * kept for those, and why, are in docs/security.md.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <ucontext.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <cap-ng.h>
#include <seccomp.h>
#include "array.h"
#include "cli.h"
#include "log.h"
#include "privilege.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* The nobody of most distributions, for a system (or a container image) without one. */
#define NOBODY_ID 65534

/* LeakSanitizer stops the threads with ptrace from a forked tracer at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define OA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OA_SANITIZED 1
#endif
#endif
#ifndef OA_SANITIZED
#define OA_SANITIZED 0
#endif

int privilege_resolve_user(const char *user, struct run_as *out)
{
	const struct passwd *pw = getpwnam(user);
	unsigned long uid;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", user);
	if (!pw && !parse_decimal(user, 0, 0xfffffffeUL, &uid)) {
		pw = getpwuid((uid_t)uid);
		if (!pw) {
			out->uid = (uid_t)uid;
			out->gid = (gid_t)uid;
			return 0;
		}
	}
	if (!pw && !strcmp(user, OA_DEFAULT_USER)) {
		out->uid = NOBODY_ID;
		out->gid = NOBODY_ID;
		return 0;
	}
	if (!pw) {
		log_error("--user %s: no such user (give a name from /etc/passwd or a numeric uid)",
			  user);
		return -ENOENT;
	}
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	return 0;
}

static bool have(unsigned int cap)
{
	return capng_have_capability(CAPNG_EFFECTIVE, cap);
}

static void add_missing(char *out, size_t len, const char *name)
{
	size_t used = strlen(out);

	snprintf(out + used, len - used, " %s", name);
}

int privilege_check_start(const struct run_as *user, bool tracing, char *missing, size_t len)
{
	missing[0] = '\0';
	capng_get_caps_process();
	if (tracing && !have(CAP_SYS_ADMIN)) {
		if (!have(CAP_BPF))
			add_missing(missing, len, "CAP_BPF");
		if (!have(CAP_PERFMON))
			add_missing(missing, len, "CAP_PERFMON");
	}
	if (getuid() != user->uid && !have(CAP_SETUID))
		add_missing(missing, len, "CAP_SETUID");
	if ((getuid() != user->uid || getgid() != user->gid) && !have(CAP_SETGID))
		add_missing(missing, len, "CAP_SETGID");
	return missing[0] ? -EPERM : 0;
}

/* The capabilities of this process before the drop: what can be kept. */
static __u64 had;

static bool had_cap(unsigned int cap)
{
	return had & (1ull << cap);
}

/* Adds cap to what is kept when this process had it; true when kept. */
static bool keep(unsigned int cap)
{
	if (!had_cap(cap))
		return false;
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, cap);
	return true;
}

/* Groups, gid, uid; the capabilities prepared in libcap-ng's state follow. */
static int change_ids(const struct run_as *user)
{
	int flags = CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_AMBIENT;
	int rc;

	if (getuid() == user->uid && geteuid() == user->uid && getgid() == user->gid &&
	    !had_cap(CAP_SETGID))
		return capng_apply(CAPNG_SELECT_CAPS) ? -EPERM : 0; /* already that user */
	if (had_cap(CAP_SETPCAP))
		flags |= CAPNG_CLEAR_BOUNDING;
	rc = capng_change_id((int)user->uid, (int)user->gid, flags);
	if (rc) {
		log_error("cannot switch to user %s (uid %u, gid %u): libcap-ng error %d",
			  user->name, (unsigned int)user->uid, (unsigned int)user->gid, rc);
		return -EPERM;
	}
	return 0;
}

/*
 * Kernels before 6.5 check CAP_BPF on every bpf() command when
 * kernel.unprivileged_bpf_disabled is set, map lookups on open fds
 * included; later ones check it only where programs and maps are made.
 * CAP_BPF is kept in the permitted set through the switch, tried without
 * it in the effective set, and kept only if the kernel refused.
 */
static bool needs_cap_bpf(const struct privilege_plan *plan)
{
	bool need;

	if (!plan->map_probe || !had_cap(CAP_BPF))
		return false;
	need = plan->map_probe(plan->probe_ctx) == -EPERM;
	if (need)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, CAP_BPF);
	else
		capng_update(CAPNG_DROP, CAPNG_PERMITTED, CAP_BPF);
	capng_apply(CAPNG_SELECT_CAPS);
	return need;
}

int privilege_drop(const struct privilege_plan *plan)
{
	char kept[160] = "";
	int err;

	capng_get_caps_process();
	had = 0;
	for (unsigned int cap = 0; cap <= CAP_LAST_CAP && cap < 64; cap++)
		had |= have(cap) ? 1ull << cap : 0;
	capng_clear(CAPNG_SELECT_ALL);
	/* the /proc/PID/environ and exe of a later target of another user (docs/security.md) */
	if (plan->read_targets && keep(CAP_SYS_PTRACE))
		add_missing(kept, sizeof(kept), "CAP_SYS_PTRACE");
	if (plan->read_targets && keep(CAP_DAC_READ_SEARCH))
		add_missing(kept, sizeof(kept), "CAP_DAC_READ_SEARCH");
	if (plan->low_port && keep(CAP_NET_BIND_SERVICE))
		add_missing(kept, sizeof(kept), "CAP_NET_BIND_SERVICE");
	if (had_cap(CAP_BPF) && plan->map_probe)
		capng_update(CAPNG_ADD, CAPNG_PERMITTED, CAP_BPF);
	err = change_ids(&plan->user);
	if (err)
		return err;
	if (needs_cap_bpf(plan))
		add_missing(kept, sizeof(kept), "CAP_BPF");
	/* a uid change made the process undumpable: LeakSanitizer's tracer could not attach */
	if (OA_SANITIZED)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		log_error("cannot set no_new_privs: %s", strerror(-err));
		return err;
	}
	err = privilege_seccomp();
	if (err)
		return err;
	log_info("serving as user %s (uid %u, gid %u), no supplementary groups, capabilities:%s; "
		 "no_new_privs; seccomp allow-list",
		 plan->user.name, (unsigned int)getuid(), (unsigned int)getgid(),
		 kept[0] ? kept : " none");
	return 0;
}

/*
 * What the serving threads call: memory and threads (glibc, libmicrohttpd's
 * threads, the render thread), files under /proc, the listening socket and
 * its connections, the BPF maps, time and signals. Not on it, among
 * others: execve, connect, ptrace, process_vm_readv, bpf program loads.
 */
static const char *const allowed[] = {
	/* memory, threads, exit */
	"brk",
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"futex",
	"set_robust_list",
	"rseq",
	"sched_yield",
	"sched_getaffinity",
	"exit",
	"exit_group",
	"getpid",
	"gettid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getrandom",
	"getrlimit",
	/* signals */
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"restart_syscall",
	"tgkill",
	/* time */
	"clock_gettime",
	"clock_getres",
	"clock_nanosleep",
	"nanosleep",
	"gettimeofday",
	/* files: /proc of the targets, the log */
	"open",
	"openat",
	"close",
	"read",
	"pread64",
	"readv",
	"write",
	"writev",
	"lseek",
	"fstat",
	"newfstatat",
	"stat",
	"lstat",
	"statx",
	"readlink",
	"readlinkat",
	"getdents64",
	"fcntl",
	/* the endpoint */
	"socket",
	"setsockopt",
	"getsockopt",
	"bind",
	"listen",
	"accept",
	"accept4",
	"getsockname",
	"getpeername",
	"recvfrom",
	"recvmsg",
	"sendto",
	"sendmsg",
	"sendfile",
	"shutdown",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"eventfd2",
	"pipe2",
};

/* Only these bpf() commands: lookups, updates and deletions on the open maps. */
static const unsigned int bpf_cmds[] = {
	BPF_MAP_LOOKUP_ELEM,	BPF_MAP_UPDATE_ELEM,
	BPF_MAP_DELETE_ELEM,	BPF_MAP_GET_NEXT_KEY,
	BPF_OBJ_GET_INFO_BY_FD, BPF_MAP_LOOKUP_AND_DELETE_ELEM,
	BPF_MAP_LOOKUP_BATCH,	BPF_MAP_LOOKUP_AND_DELETE_BATCH,
	BPF_MAP_UPDATE_BATCH,	BPF_MAP_DELETE_BATCH,
};

/* And these ioctls: isatty() of the log, and a perf event's detach on old kernels. */
static const unsigned long ioctls[] = { TCGETS, FIONBIO, FIONREAD, PERF_EVENT_IOC_DISABLE };

/* LeakSanitizer's tracer at exit: a forked process that ptrace-stops every thread. */
static const char *const sanitizer_extra[] = { "ptrace",  "wait4",	    "prctl",   "clone",
					       "getppid", "sched_getparam", "getdents" };

/*
 * The sanitizers' own threads block every signal, and a SIGSYS that finds
 * itself blocked kills the process: they get the plain EPERM.
 */
#if (defined(__x86_64__) || defined(__aarch64__)) && !OA_SANITIZED
#define DEFAULT_ACTION SCMP_ACT_TRAP

/* One bit per syscall number that was denied and said. */
static unsigned char denied_said[1024 / 8];

static void say_denied(int nr)
{
	static const char tail[] = " (EPERM); see docs/security.md\n";
	char msg[96] = "otel-agent: seccomp: denied syscall ";
	char digits[12];
	size_t len = strlen(msg), n = 0;
	unsigned int v = (unsigned int)nr;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(digits));
	while (n)
		msg[len++] = digits[--n];
	memcpy(msg + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	if (write(STDERR_FILENO, msg, len) < 0)
		return; /* nowhere to say it */
}

/*
 * SIGSYS from the filter: the call fails with EPERM, as with an ERRNO
 * action, and the first denial of each syscall is logged, so that a path
 * the allow-list missed shows up instead of degrading without a word.
 */
static void on_sigsys(int sig, siginfo_t *info, void *ucontext)
{
	ucontext_t *uc = ucontext;
	int saved = errno, nr = info->si_syscall;
	unsigned char bit = (unsigned char)(1u << (nr & 7));

	(void)sig;
	if (nr >= 0 && (size_t)nr / 8 < sizeof(denied_said) &&
	    !(__atomic_fetch_or(&denied_said[nr / 8], bit, __ATOMIC_RELAXED) & bit))
		say_denied(nr);
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#else
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#endif
	errno = saved;
}

static int trap_denied(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) ? -errno : 0;
}
#else
#define DEFAULT_ACTION SCMP_ACT_ERRNO(EPERM)
static int trap_denied(void)
{
	return 0;
}
#endif

static int allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int err;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall of this architecture (open on arm64) */
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err)
			return err;
	}
	return 0;
}

static int add_rules(scmp_filter_ctx ctx)
{
	int err = allow_names(ctx, allowed, ARRAY_SIZE(allowed));

	for (size_t i = 0; !err && i < ARRAY_SIZE(bpf_cmds); i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 1,
				       SCMP_A0(SCMP_CMP_EQ, bpf_cmds[i]));
	for (size_t i = 0; !err && i < ARRAY_SIZE(ioctls); i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, ioctls[i]));
	/* kill(pid, 0): does the process exist; no signal to anyone */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				       SCMP_A1(SCMP_CMP_EQ, 0));
	/*
	 * Its own limits only: pthread_create reads the stack size, the
	 * endpoint raises its open files limit to the hard one (raising that
	 * needs CAP_SYS_RESOURCE, which is gone).
	 */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
				       SCMP_A0(SCMP_CMP_EQ, 0));
	/* pthread_setname_np: libmicrohttpd names its threads */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	/*
	 * Threads, not processes: clone only with CLONE_THREAD. clone3 takes
	 * its flags in memory a filter cannot read; ENOSYS makes glibc fall
	 * back to clone.
	 */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (OA_SANITIZED)
		return err ? err : allow_names(ctx, sanitizer_extra, ARRAY_SIZE(sanitizer_extra));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	return err;
}

int privilege_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(DEFAULT_ACTION);
	int err;

	if (!ctx) {
		log_error("cannot set up the seccomp filter: out of memory");
		return -ENOMEM;
	}
	err = trap_denied();
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (!err)
		err = add_rules(ctx);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	if (err)
		log_error("cannot load the seccomp filter: %s", strerror(-err));
	return err;
}
