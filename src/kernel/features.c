// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns the kernel feature probes (features.h). Each helper is probed with
 * libbpf_probe_bpf_helper on a tracepoint program, the type every syscall
 * program is; BTF is the file libbpf reads. The minimum is the newest
 * release among the features: what a kernel below it is told.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "kernel/features.h"

static const struct {
	const char *name;
	const char *since;
	enum bpf_func_id helper; /* 0: not a helper */
} features[KF_COUNT] = {
	[KF_BTF] = { "BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)", "5.5", 0 },
	[KF_LOOP] = { "the BPF helper bpf_loop", "5.17", BPF_FUNC_loop },
	[KF_TASK_PT_REGS] = { "the BPF helper bpf_task_pt_regs", "5.15", BPF_FUNC_task_pt_regs },
	[KF_FOR_EACH_MAP] = { "the BPF helper bpf_for_each_map_elem", "5.13",
			      BPF_FUNC_for_each_map_elem },
	[KF_CURRENT_TASK_BTF] = { "the BPF helper bpf_get_current_task_btf", "5.11",
				  BPF_FUNC_get_current_task_btf },
	[KF_PROBE_READ_USER] = { "the BPF helper bpf_probe_read_user", "5.5",
				 BPF_FUNC_probe_read_user },
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

/* "5.17" > "5.5": releases compared by their numbers. */
static int release_cmp(const char *a, const char *b)
{
	unsigned int a1 = 0, a2 = 0, b1 = 0, b2 = 0;

	sscanf(a, "%u.%u", &a1, &a2);
	sscanf(b, "%u.%u", &b1, &b2);
	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	return a2 < b2 ? -1 : a2 > b2;
}

bool kernel_features_missing(const struct kernel_features *kf, const char *release, char *buf,
			     size_t len)
{
	const char *minimum = "0.0";
	size_t n = 0;
	int missing = 0;
	char list[512];

	for (int f = 0; f < KF_COUNT; f++) {
		if (release_cmp(features[f].since, minimum) > 0)
			minimum = features[f].since;
		if (!kf->probed[f] || kf->has[f])
			continue;
		n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0,
				      "%s%s (%s+)", missing ? ", " : "", features[f].name,
				      features[f].since);
		missing++;
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	if (!missing)
		return false;
	snprintf(buf, len, "this kernel (%s) lacks %s; otel-agent needs Linux %s or later", release,
		 list, minimum);
	return true;
}
