// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lifecycle of the BPF side: preflight checks (BTF, capabilities, tracefs),
 * open the skeleton, set the bucket bounds in rodata, load, fill the
 * targets map, attach, and destroy.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http.skel.h"
#include "bpf_loader.h"
#include "log.h"

#define BTF_PATH	"/sys/kernel/btf/vmlinux"
#define TRACEFS		"/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"
#define OA_CAP_PERFMON	38
#define OA_CAP_BPF	39

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !log_is_verbose())
		return 0;
	if (level == LIBBPF_INFO && !log_is_verbose())
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static bool has_cap(const struct __user_cap_data_struct *data, int cap)
{
	return data[cap / 32].effective & (1u << (cap % 32));
}

static int check_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	bool admin;

	if (syscall(SYS_capget, &hdr, data)) {
		log_error("cannot read capabilities: %s", strerror(errno));
		return -errno;
	}
	admin = has_cap(data, CAP_SYS_ADMIN);
	if (!admin && !(has_cap(data, OA_CAP_BPF) && has_cap(data, OA_CAP_PERFMON))) {
		log_error("not enough privilege to load BPF programs: run as root (sudo) or grant "
			  "CAP_BPF and CAP_PERFMON (missing:%s%s)",
			  has_cap(data, OA_CAP_BPF) ? "" : " CAP_BPF",
			  has_cap(data, OA_CAP_PERFMON) ? "" : " CAP_PERFMON");
		return -EPERM;
	}
	return 0;
}

/* libbpf resolves "tracepoint/..." through tracefs, which a fresh machine may not mount. */
static int ensure_tracefs(void)
{
	if (!access(TRACEFS "/events/syscalls", F_OK) ||
	    !access(DEBUGFS_TRACING "/events/syscalls", F_OK))
		return 0;
	if (access(TRACEFS "/events", F_OK)) {
		if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
			int err = errno;

			log_error("tracefs is not mounted and mounting it at " TRACEFS
				  " failed (%s); mount it on the host with "
				  "'mount -t tracefs tracefs " TRACEFS
				  "' (in a container, bind-mount it or run privileged)",
				  strerror(err));
			return -err;
		}
		log_info("mounted tracefs at " TRACEFS);
	}
	if (access(TRACEFS "/events/syscalls", F_OK)) {
		log_error("this kernel has no syscall tracepoints (" TRACEFS
			  "/events/syscalls is missing; it needs CONFIG_FTRACE_SYSCALLS=y)");
		return -ENOENT;
	}
	return 0;
}

int bpf_agent_preflight(void)
{
	int err;

	libbpf_set_print(libbpf_print);
	if (access(BTF_PATH, R_OK)) {
		log_error(
			"this kernel exposes no BTF (" BTF_PATH
			" is missing); otel-agent needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	err = check_capabilities();
	if (err)
		return err;
	return ensure_tracefs();
}

static int add_targets(struct bpf_agent *a, const pid_t *pids, size_t nr_pids)
{
	int fd = bpf_map__fd(a->skel->maps.targets);
	__u8 one = 1;

	for (size_t i = 0; i < nr_pids; i++) {
		__u32 tgid = (__u32)pids[i];

		if (bpf_map_update_elem(fd, &tgid, &one, BPF_ANY)) {
			log_error("cannot add pid %d to the targets map: %s", pids[i],
				  strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static void log_attached(const struct bpf_agent *a)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, a->skel->obj)
	{
		log_debug("attached %s (%s)", bpf_program__name(prog),
			  bpf_program__section_name(prog));
		n++;
	}
	log_info("attached %d BPF programs: syscall tracepoints of accept, accept4, read, readv, "
		 "recvfrom, recvmsg, write, writev, sendto, sendmsg, close; sched_process_fork",
		 n);
}

int bpf_agent_start(struct bpf_agent *a, const double *bounds, unsigned int nr_bounds,
		    const pid_t *pids, size_t nr_pids)
{
	int err;

	memset(a, 0, sizeof(*a));
	if (nr_bounds > OA_MAX_BOUNDS) {
		log_error("%u histogram bounds given, the kernel side counts at most %d", nr_bounds,
			  OA_MAX_BOUNDS);
		return -E2BIG;
	}
	a->skel = http_bpf__open();
	if (!a->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(errno));
		return err;
	}
	for (unsigned int i = 0; i < nr_bounds; i++) {
		a->bounds[i] = bounds[i];
		a->skel->rodata->bounds_ns[i] = (__u64)(bounds[i] * 1e9 + 0.5);
	}
	a->nr_bounds = nr_bounds;
	a->skel->rodata->nr_bounds = nr_bounds;

	err = http_bpf__load(a->skel);
	if (err) {
		log_error(
			"the kernel refused the BPF programs: %s (run with -v for the verifier log)",
			strerror(-err));
		goto cleanup;
	}
	err = add_targets(a, pids, nr_pids);
	if (err)
		goto cleanup;
	err = http_bpf__attach(a->skel);
	if (err) {
		log_error("cannot attach the BPF programs: %s (run with -v for details)",
			  strerror(-err));
		goto cleanup;
	}
	log_attached(a);
	return 0;
cleanup:
	bpf_agent_stop(a);
	return err;
}

void bpf_agent_stop(struct bpf_agent *a)
{
	if (!a)
		return;
	http_bpf__destroy(a->skel);
	a->skel = NULL;
}
