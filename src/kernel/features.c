// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the kernel feature probes (features.h). Each helper is probed with
 * libbpf_probe_bpf_helper on a tracepoint program, the type every syscall
 * program is; BTF is the file libbpf reads. A kernel lacking what both
 * builds need is told the oldest release the compat build is tested on;
 * one lacking only what the current build uses gets the compat build.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "kernel/features.h"

static const struct {
	const char *name;
	const char *since;
	enum bpf_func_id helper; /* 0: not a helper */
	bool current_only;	 /* the compat build does without it */
} features[KF_COUNT] = {
	[KF_BTF] = { "BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)", "5.5", 0, false },
	[KF_LOOP] = { "the BPF helper bpf_loop", "5.17", BPF_FUNC_loop, true },
	[KF_TASK_PT_REGS] = { "the BPF helper bpf_task_pt_regs", "5.15", BPF_FUNC_task_pt_regs,
			      true },
	[KF_FOR_EACH_MAP] = { "the BPF helper bpf_for_each_map_elem", "5.13",
			      BPF_FUNC_for_each_map_elem, true },
	[KF_CURRENT_TASK_BTF] = { "the BPF helper bpf_get_current_task_btf", "5.11",
				  BPF_FUNC_get_current_task_btf, true },
	[KF_PROBE_READ_USER] = { "the BPF helper bpf_probe_read_user", "5.5",
				 BPF_FUNC_probe_read_user, false },
};

const char *kernel_feature_name(enum kernel_feature f)
{
	return f < KF_COUNT ? features[f].name : "?";
}

const char *kernel_feature_since(enum kernel_feature f)
{
	return f < KF_COUNT ? features[f].since : "?";
}

void kernel_features_probe(struct kernel_features *kf, const char *btf_path)
{
	memset(kf, 0, sizeof(*kf));
	kf->has[KF_BTF] = !access(btf_path, R_OK);
	kf->probed[KF_BTF] = true;
	for (int f = 0; f < KF_COUNT; f++) {
		int r;

		if (!features[f].helper)
			continue;
		r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, features[f].helper, NULL);
		kf->probed[f] = r >= 0;
		kf->has[f] = r > 0;
	}
}

/*
 * Writes the features kf lacks (of those current_only selects, or all
 * with all) into list as "name (release+), ...". Returns how many.
 */
static int lacking_list(const struct kernel_features *kf, bool all, char *list, size_t len)
{
	size_t n = 0;
	int missing = 0;

	list[0] = '\0';
	for (int f = 0; f < KF_COUNT; f++) {
		if (!kf->probed[f] || kf->has[f] || (!all && !features[f].current_only))
			continue;
		n += (size_t)snprintf(list + n, n < len ? len - n : 0, "%s%s (%s+)",
				      missing ? ", " : "", features[f].name, features[f].since);
		missing++;
		if (n >= len)
			n = len - 1;
	}
	return missing;
}

bool kernel_features_missing(const struct kernel_features *kf, const char *release, char *buf,
			     size_t len)
{
	struct kernel_features needed = *kf;
	char list[512];

	for (int f = 0; f < KF_COUNT; f++) {
		if (features[f].current_only)
			needed.has[f] = true;
	}
	if (!lacking_list(&needed, true, list, sizeof(list)))
		return false;
	snprintf(buf, len,
		 "this kernel (%s) lacks %s; otel-agent needs Linux " KERNEL_MINIMUM " or later",
		 release, list);
	return true;
}

int kernel_build_choose(const struct kernel_features *kf, const char *override, bool *compat,
			char *why, size_t len)
{
	if (len)
		why[0] = '\0';
	if (override && !strcmp(override, "current")) {
		*compat = false;
		return 0;
	}
	if (override && !strcmp(override, "compat")) {
		*compat = true;
		snprintf(why, len, "OTEL_AGENT_PROGRAMS=compat");
		return 0;
	}
	if (override && *override && strcmp(override, "auto"))
		return -EINVAL;
	*compat = lacking_list(kf, false, why, len) > 0;
	return 0;
}
