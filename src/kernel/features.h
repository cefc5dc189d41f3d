/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the running kernel offers the BPF programs, probed before the load,
 * and the one-line reason to stop when something they need is missing
 * (rather than the verifier's "kernel refused the BPF programs").
 */
#ifndef OA_KERNEL_FEATURES_H
#define OA_KERNEL_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

/* A kernel facility the programs use, with the release that brought it. */
enum kernel_feature {
	KF_BTF,		     /* /sys/kernel/btf/vmlinux: CO-RE and tp_btf */
	KF_LOOP,	     /* bpf_loop: the framing's loops */
	KF_TASK_PT_REGS,     /* bpf_task_pt_regs: a syscall's arguments at its exit */
	KF_FOR_EACH_MAP,     /* bpf_for_each_map_elem: ending a process's connections */
	KF_CURRENT_TASK_BTF, /* bpf_get_current_task_btf: the registers as plain loads */
	KF_PROBE_READ_USER,  /* bpf_probe_read_user and _kernel */
	KF_COUNT,
};

struct kernel_features {
	bool has[KF_COUNT];
	bool probed
		[KF_COUNT]; /* false: the probe itself failed (EPERM, say): not held against it */
};

/* Name and first release of each feature, for messages and docs. */
const char *kernel_feature_name(enum kernel_feature f);
const char *kernel_feature_since(enum kernel_feature f);

/* Probes the running kernel; btf_path is where its BTF would be. */
void kernel_features_probe(struct kernel_features *kf, const char *btf_path);

/*
 * Writes into buf (len bytes) the one line that says what the kernel
 * (release) lacks and the release that has it, and returns true; returns
 * false, and leaves buf alone, when everything probed is there.
 */
bool kernel_features_missing(const struct kernel_features *kf, const char *release, char *buf,
			     size_t len);

#endif /* OA_KERNEL_FEATURES_H */
