// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The kernel feature decision (src/kernel/features.c): which build of the
 * programs a kernel gets, and the one line a kernel below the minimum
 * gets, from feature sets of the kernels users run, and the probe on this
 * machine's kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include "kernel/features.h"

/* Every feature probed; those in lacking[] absent. */
static struct kernel_features kernel_lacking(const enum kernel_feature *lacking, size_t n)
{
	struct kernel_features kf;

	for (int f = 0; f < KF_COUNT; f++) {
		kf.has[f] = true;
		kf.probed[f] = true;
	}
	for (size_t i = 0; i < n; i++)
		kf.has[lacking[i]] = false;
	return kf;
}

static void test_everything_there(void **state)
{
	struct kernel_features kf = kernel_lacking(NULL, 0);
	char buf[64] = "untouched";

	(void)state;
	assert_false(kernel_features_missing(&kf, "6.18.0", buf, sizeof(buf)));
	assert_string_equal(buf, "untouched");
}

/* Debian 11's 5.10: four helpers short of the current build, each named with its release; the compat build loads. */
static void test_kernel_5_10(void **state)
{
	const enum kernel_feature lacking[] = { KF_LOOP, KF_TASK_PT_REGS, KF_FOR_EACH_MAP,
						KF_CURRENT_TASK_BTF };
	struct kernel_features kf = kernel_lacking(lacking, 4);
	char buf[768] = "untouched";
	bool compat = false;

	(void)state;
	assert_false(kernel_features_missing(&kf, "5.10.0-30-amd64", buf, sizeof(buf)));
	assert_string_equal(buf, "untouched");
	assert_int_equal(kernel_build_choose(&kf, NULL, &compat, buf, sizeof(buf)), 0);
	assert_true(compat);
	assert_string_equal(buf, "the BPF helper bpf_loop (5.17+), the BPF helper "
				 "bpf_task_pt_regs (5.15+), the BPF helper "
				 "bpf_for_each_map_elem (5.13+), the BPF helper "
				 "bpf_get_current_task_btf (5.11+)");
}

/* Ubuntu 22.04's 5.15: only bpf_loop, and the compat build for it. */
static void test_kernel_5_15(void **state)
{
	const enum kernel_feature lacking[] = { KF_LOOP };
	struct kernel_features kf = kernel_lacking(lacking, 1);
	char buf[768];
	bool compat = false;

	(void)state;
	assert_false(kernel_features_missing(&kf, "5.15.0-91-generic", buf, sizeof(buf)));
	assert_int_equal(kernel_build_choose(&kf, "auto", &compat, buf, sizeof(buf)), 0);
	assert_true(compat);
	assert_string_equal(buf, "the BPF helper bpf_loop (5.17+)");
}

/* 6.1 has it all: the current build. */
static void test_current_build(void **state)
{
	struct kernel_features kf = kernel_lacking(NULL, 0);
	char buf[64];
	bool compat = true;

	(void)state;
	assert_int_equal(kernel_build_choose(&kf, "", &compat, buf, sizeof(buf)), 0);
	assert_false(compat);
	assert_string_equal(buf, "");
}

/* OTEL_AGENT_PROGRAMS chooses either build whatever was probed; anything else is refused. */
static void test_override(void **state)
{
	const enum kernel_feature lacking[] = { KF_LOOP };
	struct kernel_features old = kernel_lacking(lacking, 1), new = kernel_lacking(NULL, 0);
	char buf[64];
	bool compat = true;

	(void)state;
	assert_int_equal(kernel_build_choose(&old, "current", &compat, buf, sizeof(buf)), 0);
	assert_false(compat);
	assert_int_equal(kernel_build_choose(&new, "compat", &compat, buf, sizeof(buf)), 0);
	assert_true(compat);
	assert_string_equal(buf, "OTEL_AGENT_PROGRAMS=compat");
	assert_int_equal(kernel_build_choose(&new, "Compat", &compat, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kernel_build_choose(&new, "legacy", &compat, buf, sizeof(buf)), -EINVAL);
}

/* No BTF: named with the build option that gives it, and the oldest release tested. */
static void test_no_btf(void **state)
{
	const enum kernel_feature lacking[] = { KF_BTF };
	struct kernel_features kf = kernel_lacking(lacking, 1);
	char buf[768];

	(void)state;
	assert_true(kernel_features_missing(&kf, "6.1.0", buf, sizeof(buf)));
	assert_string_equal(buf, "this kernel (6.1.0) lacks BTF (/sys/kernel/btf/vmlinux, "
				 "CONFIG_DEBUG_INFO_BTF=y) (5.5+); otel-agent needs Linux 5.10 "
				 "or later");
	assert_null(strchr(buf, '\n'));
}

/* 5.4 lacks what both builds need: only that is named, not what the compat build does without. */
static void test_kernel_5_4(void **state)
{
	const enum kernel_feature lacking[] = { KF_BTF,
						KF_LOOP,
						KF_TASK_PT_REGS,
						KF_FOR_EACH_MAP,
						KF_CURRENT_TASK_BTF,
						KF_PROBE_READ_USER };
	struct kernel_features kf = kernel_lacking(lacking, 6);
	char buf[768];

	(void)state;
	assert_true(kernel_features_missing(&kf, "5.4.0-150-generic", buf, sizeof(buf)));
	assert_string_equal(buf, "this kernel (5.4.0-150-generic) lacks BTF "
				 "(/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y) (5.5+), the "
				 "BPF helper bpf_probe_read_user (5.5+); otel-agent needs Linux "
				 "5.10 or later");
}

/* A probe that could not run (no privilege, say) is not taken for a missing feature. */
static void test_unprobed_not_held(void **state)
{
	const enum kernel_feature lacking[] = { KF_LOOP, KF_BTF };
	struct kernel_features kf = kernel_lacking(lacking, 2);
	char buf[64];
	bool compat = true;

	(void)state;
	kf.probed[KF_LOOP] = false;
	kf.probed[KF_BTF] = false;
	assert_false(kernel_features_missing(&kf, "6.18.0", buf, sizeof(buf)));
	assert_int_equal(kernel_build_choose(&kf, NULL, &compat, buf, sizeof(buf)), 0);
	assert_false(compat);
}

/* A short buffer gets a cut, terminated line. */
static void test_short_buffer(void **state)
{
	const enum kernel_feature lacking[] = { KF_BTF, KF_PROBE_READ_USER };
	struct kernel_features kf = kernel_lacking(lacking, 2);
	char buf[24];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_true(kernel_features_missing(&kf, "5.10", buf, sizeof(buf)));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

/* The kernel the tests run on has everything (root: the probes load programs). */
static void test_probe_this_kernel(void **state)
{
	struct kernel_features kf;
	char buf[768];
	bool compat = true;

	(void)state;
	if (geteuid())
		skip();
	kernel_features_probe(&kf, "/sys/kernel/btf/vmlinux");
	for (int f = 0; f < KF_COUNT; f++)
		assert_true(kf.probed[f]);
	if (kernel_features_missing(&kf, "this", buf, sizeof(buf)))
		fail_msg("%s", buf);
	assert_int_equal(kernel_build_choose(&kf, NULL, &compat, buf, sizeof(buf)), 0);
	if (compat)
		fail_msg("this kernel would get the compat build: it lacks %s", buf);
	kernel_features_probe(&kf, "/nonexistent/btf");
	assert_false(kf.has[KF_BTF]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_everything_there), cmocka_unit_test(test_kernel_5_10),
		cmocka_unit_test(test_kernel_5_15),	 cmocka_unit_test(test_current_build),
		cmocka_unit_test(test_override),	 cmocka_unit_test(test_no_btf),
		cmocka_unit_test(test_kernel_5_4),	 cmocka_unit_test(test_unprobed_not_held),
		cmocka_unit_test(test_short_buffer),	 cmocka_unit_test(test_probe_this_kernel),
	};

	return cmocka_run_group_tests_name("kernel_features", tests, NULL, NULL);
}
