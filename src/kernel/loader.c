// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lifecycle of the BPF side: preflight checks (BTF, capabilities, the
 * kernel features the programs need: features.c, tracefs),
 * open the skeleton, set the bucket bounds and selector counts in rodata,
 * load only the programs the selectors need, write the selectors (--port,
 * --comm, --exe) and the --pid targets into their maps, attach, and destroy.
 * Load, selectors and attach run in a short-lived child (load_child.c),
 * which hands the maps and links back to this process's skeleton.
 * Also the targets map's accessors for the rest of user space.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http.skel.h"
#include "array.h"
#include "kernel/features.h"
#include "kernel/load_child.h"
#include "kernel/loader.h"
#include "kernel/map_walk.h"
#include "metrics/buckets.h"
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
	int err;

	if (syscall(SYS_capget, &hdr, data)) {
		err = -errno;
		log_error("cannot read capabilities: %s", strerror(-err));
		return err;
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

/*
 * Whether path exists for this process's effective uid and capabilities:
 * access() checks the real uid without capabilities, so an agent started
 * as a user with CAP_DAC_READ_SEARCH (a container's non-root user) would
 * see tracefs (mode 0700) as missing.
 */
static bool exists(const char *path)
{
	return !faccessat(AT_FDCWD, path, F_OK, AT_EACCESS);
}

/* libbpf resolves "tracepoint/..." through tracefs, which a fresh machine may not mount. */
static int ensure_tracefs(void)
{
	if (exists(TRACEFS "/events/syscalls") || exists(DEBUGFS_TRACING "/events/syscalls"))
		return 0;
	if (!exists(TRACEFS "/events")) {
		if (mount("tracefs", TRACEFS, "tracefs", 0, NULL)) {
			int err = -errno;

			log_error("tracefs is not mounted and mounting it at " TRACEFS
				  " failed (%s); mount it on the host with "
				  "'mount -t tracefs tracefs " TRACEFS
				  "' (in a container, bind-mount it or run privileged)",
				  strerror(-err));
			return err;
		}
		log_info("mounted tracefs at " TRACEFS);
	}
	if (!exists(TRACEFS "/events/syscalls")) {
		log_error("this kernel has no syscall tracepoints (" TRACEFS
			  "/events/syscalls is missing; it needs CONFIG_FTRACE_SYSCALLS=y)");
		return -ENOENT;
	}
	return 0;
}

int loader_preflight(bool *compat)
{
	const char *override = getenv("OTEL_AGENT_PROGRAMS");
	struct kernel_features kf;
	struct utsname u;
	char why[768];
	int err;

	libbpf_set_print(libbpf_print);
	if (faccessat(AT_FDCWD, BTF_PATH, R_OK, AT_EACCESS)) {
		log_error(
			"this kernel exposes no BTF (" BTF_PATH
			" is missing); otel-agent needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	err = check_capabilities();
	if (err)
		return err;
	/* after the capabilities: a probe that may not load says nothing about the kernel */
	kernel_features_probe(&kf, BTF_PATH);
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown release");
	if (kernel_features_missing(&kf, u.release, why, sizeof(why))) {
		log_error("%s", why);
		return -EOPNOTSUPP;
	}
	if (kernel_build_choose(&kf, override, compat, why, sizeof(why))) {
		log_error("OTEL_AGENT_PROGRAMS is '%s'; it takes auto, current or compat",
			  override);
		return -EINVAL;
	}
	if (*compat)
		log_info("loading the compat BPF programs: this kernel (%s) lacks %s", u.release,
			 why);
	return ensure_tracefs();
}

int loader_series_cpus(const struct loader *a)
{
	return a->compat ? 1 : libbpf_num_possible_cpus();
}

int loader_add_target(struct loader *a, pid_t pid)
{
	int fd = bpf_map__fd(a->skel->maps.targets);
	__u32 tgid = (__u32)pid;
	__u8 one = 1;
	int err;

	err = bpf_map_update_elem(fd, &tgid, &one, BPF_NOEXIST);
	if (!err) {
		target_bits_set(&a->bits, tgid, true);
		/* it exited in between, and the exit cleared a bit not set yet */
		if (bpf_map_lookup_elem(fd, &tgid, &one))
			target_bits_set(&a->bits, tgid, false);
		return 1;
	}
	if (err == -EEXIST)
		return 0;
	log_error("cannot add pid %d to the targets map: %s", (int)pid, strerror(-err));
	return err;
}

int loader_probe_maps(void *loader)
{
	struct loader *a = loader;
	__u32 key;
	int err = bpf_map_get_next_key(bpf_map__fd(a->skel->maps.targets), NULL, &key);

	return err == -EPERM ? -EPERM : 0;
}

int loader_list_targets(struct loader *a, pid_t *out, size_t max)
{
	int fd = bpf_map__fd(a->skel->maps.targets);
	__u32 key, next, *prev = NULL;
	size_t n = 0;

	while (n < max && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		out[n++] = (pid_t)key;
	}
	return (int)n;
}

int loader_event_count(struct loader *a, __u32 ev, __u64 *count)
{
	return percpu_counters_read(bpf_map__fd(a->skel->maps.events), ev, 1, count);
}

/* The --exe keys: each path as given and, when it differs, resolved (symlinks, ".."). */
static size_t exe_keys(const struct selectors *sel, struct exe_key *keys, size_t max)
{
	char real[PATH_MAX];
	size_t n = 0;

	for (size_t i = 0; i < sel->nr_exes; i++) {
		const char *paths[2] = { sel->exes[i], NULL };

		if (realpath(sel->exes[i], real) && strcmp(real, sel->exes[i]))
			paths[1] = real;
		for (int p = 0; p < 2 && paths[p] && n < max; p++) {
			if (strlen(paths[p]) >= sizeof(keys[n].path) - 1) {
				log_info(
					"--exe %s resolves to %s, longer than the %zu bytes matched; "
					"matching the path as given only",
					sel->exes[i], paths[p], sizeof(keys[n].path) - 2);
				continue;
			}
			memset(&keys[n], 0, sizeof(keys[n]));
			memcpy(keys[n].path, paths[p], strlen(paths[p]));
			n++;
		}
	}
	return n;
}

static int put_key(struct bpf_map *map, const void *key, const char *what)
{
	__u8 one = 1;
	int err;

	err = bpf_map__update_elem(map, key, bpf_map__key_size(map), &one, sizeof(one), BPF_ANY);
	if (!err)
		return 0;
	log_error("cannot write %s into the %s map: %s (at most %u of each selector)", what,
		  bpf_map__name(map), strerror(-err), bpf_map__max_entries(map));
	return err;
}

/* What the kernel matches processes that appear later against. */
static int write_selectors(struct loader *a, const struct selectors *sel,
			   const struct exe_key *exes, size_t nr_exes)
{
	int err = 0;

	for (size_t i = 0; i < sel->nr_ports && !err; i++) {
		__u16 port = sel->ports[i];

		err = put_key(a->skel->maps.ports, &port, "a --port");
	}
	for (size_t i = 0; i < sel->nr_comms && !err; i++) {
		struct comm_key key = { 0 };
		size_t len = strlen(sel->comms[i]);

		if (len > sizeof(key.comm) - 1) {
			len = sizeof(key.comm) - 1;
			log_info(
				"--comm %s is longer than the %zu characters the kernel keeps of a "
				"process name; matching '%.*s'",
				sel->comms[i], len, (int)len, sel->comms[i]);
		}
		memcpy(key.comm, sel->comms[i], len);
		err = put_key(a->skel->maps.comms, &key, "a --comm");
	}
	for (size_t i = 0; i < nr_exes && !err; i++)
		err = put_key(a->skel->maps.exes, &exes[i], "an --exe");
	for (size_t i = 0; i < sel->nr_pids && !err; i++) {
		int added = loader_add_target(a, sel->pids[i]);

		err = added < 0 ? added : 0;
	}
	return err;
}

/* The compat build's program standing in for the program name (bpf/variant.bpf.h), or NULL. */
static struct bpf_program *compat_twin(struct loader *a, const char *name)
{
	char twin[128];

	snprintf(twin, sizeof(twin), "%s_compat", name);
	return bpf_object__find_program_by_name(a->skel->obj, twin);
}

/*
 * One build's programs: the compat build's X_compat stands in for the
 * current build's X; programs without a twin are both's.
 */
static void choose_build(struct loader *a, bool compat)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, a->skel->obj)
	{
		const char *name = bpf_program__name(prog);
		size_t n = strlen(name);

		if (n > 7 && !strcmp(name + n - 7, "_compat"))
			bpf_program__set_autoload(prog, compat);
		else if (compat_twin(a, name))
			bpf_program__set_autoload(prog, !compat);
	}
	a->compat = compat;
}

/* The program name, and its compat twin, stay unloaded unless needed. */
static void load_only_if(struct loader *a, const char *name, bool needed)
{
	struct bpf_program *progs[2];

	if (needed)
		return;
	progs[0] = bpf_object__find_program_by_name(a->skel->obj, name);
	progs[1] = compat_twin(a, name);
	for (int i = 0; i < 2; i++) {
		if (progs[i])
			bpf_program__set_autoload(progs[i], false);
	}
}

/* Programs only a selector needs are not loaded without it: no cost for other processes. */
static void choose_programs(struct loader *a, const struct selectors *sel)
{
	bool ports = sel->nr_ports, comms = sel->nr_comms, exes = sel->nr_exes;

	load_only_if(a, "handle_inet_sock_set_state", ports);
	load_only_if(a, "handle_sys_exit_accept_port", ports);
	load_only_if(a, "handle_sys_exit_accept4_port", ports);
	load_only_if(a, "handle_sched_process_exec", comms || exes);
	load_only_if(a, "handle_task_rename", comms);
}

/* Appends name to list (", "-separated) unless it is there already. */
static void list_add(char *list, size_t len, const char *name)
{
	size_t used = strlen(list), n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n) {
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return;
	}
	snprintf(list + used, len - used, "%s%s", used ? ", " : "", name);
}

/* One line naming the hooks, from the programs' sections, in the order the object has them. */
static void log_attached(const struct loader *a)
{
	char syscalls[512] = "", others[256] = "";
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, a->skel->obj)
	{
		const char *sec = bpf_program__section_name(prog), *hook = strrchr(sec, '/');

		if (!bpf_program__autoload(prog))
			continue;
		log_debug("attached %s (%s)", bpf_program__name(prog), sec);
		n++;
		hook = hook ? hook + 1 : sec;
		if (!strncmp(hook, "sys_enter_", 10))
			list_add(syscalls, sizeof(syscalls), hook + 10);
		else if (!strncmp(hook, "sys_exit_", 9))
			list_add(syscalls, sizeof(syscalls), hook + 9);
		else
			list_add(others, sizeof(others), hook);
	}
	log_info("attached %d BPF programs: syscall tracepoints of %s; %s", n, syscalls, others);
}

/* Map sizes the user chose, before load. */
static int size_maps(struct loader *a, const struct map_limits *limits)
{
	int err = 0;

	if (limits->max_series)
		err = bpf_map__set_max_entries(a->skel->maps.series, limits->max_series);
	if (!err && limits->max_connections)
		err = bpf_map__set_max_entries(a->skel->maps.conns, limits->max_connections);
	if (!err && limits->max_connections)
		err = bpf_map__set_max_entries(a->skel->maps.reqs, limits->max_connections);
	if (!err)
		err = bpf_map__set_max_entries(a->skel->maps.target_bits, target_bits_words(NULL));
	/* only the compat build's enter programs keep arguments there */
	if (!err && !a->compat)
		err = bpf_map__set_max_entries(a->skel->maps.syscall_args, 1);
	/*
	 * Before 6.1 a tracepoint program on a map allocated at run time makes
	 * the kernel WARN: the compat build's series maps are preallocated,
	 * and so shared by the CPUs, not per-CPU (max entries x CPUs).
	 */
	if (!err && a->compat)
		err = bpf_map__set_type(a->skel->maps.series, BPF_MAP_TYPE_HASH);
	if (!err && a->compat)
		err = bpf_map__set_map_flags(a->skel->maps.series, 0);
	if (!err && a->compat)
		err = bpf_map__set_type(a->skel->maps.client_series, BPF_MAP_TYPE_HASH);
	if (!err && a->compat)
		err = bpf_map__set_map_flags(a->skel->maps.client_series, 0);
	if (err)
		log_error("cannot size the kernel maps: %s", strerror(-err));
	return err;
}

/*
 * target_bits, kept where the kernel can: user space sets the bits of the
 * targets it adds through a shared mapping. Without it the programs look
 * every tgid up in targets.
 */
static int map_target_bits(struct loader *a)
{
	struct bpf_map *map = a->skel->maps.target_bits;
	int err;

	if (!a->skel->rodata->use_target_bits)
		return 0;
	err = target_bits_map(&a->bits, bpf_map__fd(map), bpf_map__max_entries(map));
	if (err)
		log_error("cannot map the target_bits map: %s", strerror(-err));
	return err;
}

/* The bucket bounds in rodata (ns and bytes), and as user space exports them. */
static void set_bounds(struct loader *a, const double *bounds, unsigned int nr_bounds)
{
	for (unsigned int i = 0; i < nr_bounds; i++) {
		a->bounds[i] = bounds[i];
		a->skel->rodata->bounds_ns[i] = (__u64)(bounds[i] * 1e9 + 0.5);
	}
	a->nr_bounds = nr_bounds;
	a->skel->rodata->nr_bounds = nr_bounds;
	for (unsigned int i = 0; i < buckets_body_size.nr && i < OA_MAX_SIZE_BOUNDS; i++) {
		a->size_bounds[i] = buckets_body_size.bounds[i];
		a->skel->rodata->size_bounds[i] = (__u64)buckets_body_size.bounds[i];
		a->nr_size_bounds = i + 1;
	}
	a->skel->rodata->nr_size_bounds = a->nr_size_bounds;
}

/* What the loading child needs to load, write the selectors and attach. */
struct load_job {
	struct loader *a;
	const struct selectors *sel;
	const struct exe_key *exes;
	size_t nr_exes;
};

/* Appends fd to fds[max]; false when it is full. */
static bool hand_over(int *fds, size_t max, size_t *n, int fd)
{
	if (*n == max)
		return false;
	fds[(*n)++] = fd;
	return true;
}

/*
 * In the loading child (load_child.c): load, the selectors, attach; then
 * what the agent keeps: every map's fd in the object's order, then every
 * link's. Returns how many fds or -errno, said.
 */
static int load_and_attach(void *ctx, int *fds, size_t max)
{
	struct load_job *job = ctx;
	struct http_bpf *skel = job->a->skel;
	const struct bpf_object_skeleton *s = skel->skeleton;
	struct bpf_map *map;
	size_t n = 0;
	int err;

	err = http_bpf__load(skel);
	if (err) {
		log_error(
			"the kernel refused the BPF programs: %s (run with -v for the verifier log)",
			strerror(-err));
		return err;
	}
	/* the --pid targets' bits are set here, through this process's own mapping */
	err = map_target_bits(job->a);
	if (!err)
		err = write_selectors(job->a, job->sel, job->exes, job->nr_exes);
	if (err)
		return err;
	err = http_bpf__attach(skel);
	if (err) {
		log_error("cannot attach the BPF programs: %s (run with -v for details)",
			  strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, skel->obj)
	{
		if (bpf_map__fd(map) < 0 || !hand_over(fds, max, &n, bpf_map__fd(map))) {
			log_error("cannot hand over the %s map", bpf_map__name(map));
			return -EBADF;
		}
	}
	for (int i = 0; i < s->prog_cnt; i++) {
		const struct bpf_link *link = *s->progs[i].link;

		if (link && !hand_over(fds, max, &n, bpf_link__fd(link))) {
			log_error("more BPF maps and links than %zu to hand over", max);
			return -E2BIG;
		}
	}
	return (int)n;
}

/*
 * The child's fds in this process: each map's goes into the unloaded
 * object's map of the same place, so that the skeleton serves as if it had
 * been loaded here; the links stay open until loader_stop detaches them.
 */
static int adopt(struct loader *a, const int *fds, size_t nr)
{
	struct bpf_map *map;
	size_t i = 0;
	int err = 0;

	bpf_object__for_each_map(map, a->skel->obj)
	{
		if (i == nr) {
			log_error("the loading process handed over %zu fds, fewer than the maps",
				  nr);
			return -EPROTO;
		}
		err = bpf_map__reuse_fd(map, fds[i]); /* it keeps a duplicate */
		close(fds[i++]);
		if (err) {
			log_error("cannot take over the %s map: %s", bpf_map__name(map),
				  strerror(-err));
			break;
		}
	}
	a->links = err ? NULL : calloc(nr - i + 1, sizeof(*a->links));
	if (!err && !a->links)
		err = -ENOMEM;
	for (; i < nr; i++) {
		if (err)
			close(fds[i]);
		else
			a->links[a->nr_links++] = fds[i];
	}
	return err;
}

/*
 * The skeleton's global data (skel->rodata, and ->bss or ->data should the
 * object have them) mapped onto the kernel's maps, as a load here would:
 * else they would stay this process's copy from before the load.
 */
static int map_globals(struct loader *a)
{
	const struct bpf_object_skeleton *s = a->skel->skeleton;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; i < s->map_cnt; i++) {
		const struct bpf_map *map = *s->maps[i].map;
		void **mmaped = s->maps[i].mmaped;
		__u32 flags = bpf_map__map_flags(map);
		size_t size = ((size_t)bpf_map__value_size(map) + 7) / 8 * 8;
		int prot = flags & BPF_F_RDONLY_PROG ? PROT_READ : PROT_READ | PROT_WRITE;

		if (!mmaped || !*mmaped || !(flags & BPF_F_MMAPABLE))
			continue;
		size = (size * bpf_map__max_entries(map) + page - 1) / page * page;
		if (mmap(*mmaped, size, prot, MAP_SHARED | MAP_FIXED, bpf_map__fd(map), 0) ==
		    MAP_FAILED) {
			int err = -errno;

			log_error("cannot map the %s map: %s", bpf_map__name(map), strerror(-err));
			return err;
		}
	}
	return 0;
}

int loader_start(struct loader *a, const struct map_limits *limits, const double *bounds,
		 unsigned int nr_bounds, const struct selectors *sel, bool compat)
{
	int fds[LOAD_CHILD_MAX_FDS];
	struct load_job job = { .a = a, .sel = sel };
	struct exe_key *exes = NULL;
	size_t nr_exes, nr_fds;
	int err;

	memset(a, 0, sizeof(*a));
	if (nr_bounds > OA_MAX_BOUNDS) {
		log_error("%u histogram bounds given, the kernel side counts at most %d", nr_bounds,
			  OA_MAX_BOUNDS);
		return -E2BIG;
	}
	exes = calloc(2 * sel->nr_exes + 1, sizeof(*exes));
	if (!exes)
		return -ENOMEM;
	nr_exes = exe_keys(sel, exes, 2 * sel->nr_exes);
	a->skel = http_bpf__open();
	if (!a->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	set_bounds(a, bounds, nr_bounds);
	a->skel->rodata->nr_ports = (__u32)sel->nr_ports;
	a->skel->rodata->nr_comms = (__u32)sel->nr_comms;
	a->skel->rodata->nr_exes = (__u32)nr_exes;
	a->skel->rodata->agent_tgid = (__u32)getpid();
	a->skel->rodata->max_series_per_target = limits->series_per_target;
	a->skel->rodata->count_body_sizes = limits->body_sizes;
	/* the compat build has no atomic or/and to keep the bits with */
	a->skel->rodata->use_target_bits = !compat && target_bits_supported();
	choose_build(a, compat);
	choose_programs(a, sel);
	err = size_maps(a, limits);
	if (err)
		goto cleanup;

	/* the load's peak (the kernel BTF, twice) stays in a child: load_child.c */
	job.exes = exes;
	job.nr_exes = nr_exes;
	err = load_child_run(load_and_attach, &job, fds, ARRAY_SIZE(fds), &nr_fds);
	if (!err)
		err = adopt(a, fds, nr_fds);
	if (!err)
		err = map_globals(a);
	if (!err)
		err = map_target_bits(a);
	if (err)
		goto cleanup;
	log_attached(a);
	free(exes);
	return 0;
cleanup:
	free(exes);
	loader_stop(a);
	return err;
}

void loader_stop(struct loader *a)
{
	if (!a)
		return;
	target_bits_unmap(&a->bits);
	/* closing a link detaches its program */
	for (size_t i = 0; i < a->nr_links; i++)
		close(a->links[i]);
	free(a->links);
	a->links = NULL;
	a->nr_links = 0;
	http_bpf__destroy(a->skel);
	a->skel = NULL;
}
