/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the running kernel offers the BPF programs, probed before the load:
 * which build of them it can run (bpf/variant.bpf.h), and the one-line
 * reason to stop when even the compat build cannot (rather than the
 * verifier's "kernel refused the BPF programs").
 */
#ifndef OA_KERNEL_FEATURES_H
#define OA_KERNEL_FEATURES_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A kernel facility the programs use, with the release that brought it.
 * Both builds need BTF and the probe-read helpers; the others only the
 * current build, which a kernel lacking any of them does without.
 */
enum kernel_feature {
	KF_BTF,		     /* /sys/kernel/btf/vmlinux: CO-RE and tp_btf */
	KF_LOOP,	     /* bpf_loop: the framing's loops */
	KF_TASK_PT_REGS,     /* bpf_task_pt_regs: a syscall's arguments at its exit */
	KF_FOR_EACH_MAP,     /* bpf_for_each_map_elem: ending a process's connections */
	KF_CURRENT_TASK_BTF, /* bpf_get_current_task_btf: the registers as plain loads */
	KF_PROBE_READ_USER,  /* bpf_probe_read_user and _kernel */
	KF_COUNT,
};

/* The oldest release the compat build is tested on (make vmtest). */
#define KERNEL_MINIMUM "5.10"

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
 * (release) lacks that both builds need, and the release that has it, and
 * returns true; returns false, and leaves buf alone, when it has all that.
 */
bool kernel_features_missing(const struct kernel_features *kf, const char *release, char *buf,
			     size_t len);

/*
 * Which build of the programs to load: the current one when the kernel has
 * everything it uses, else the compat one, with what it lacks written
 * into why (len bytes). override, from OTEL_AGENT_PROGRAMS, is NULL or
 * "auto" to decide so, "current" or "compat" to choose (tests, or a probe
 * that is wrong). Returns 0, or -EINVAL for another override.
 */
int kernel_build_choose(const struct kernel_features *kf, const char *override, bool *compat,
			char *why, size_t len);

#endif /* OA_KERNEL_FEATURES_H */
