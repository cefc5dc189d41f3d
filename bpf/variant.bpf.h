/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel side is built twice from the same sources and linked into one
 * object; the loader loads one build's programs (kernel/features.c decides):
 *
 *   current   bpf_loop (5.17), bpf_task_pt_regs (5.15),
 *             bpf_get_current_task_btf (5.11), bpf_for_each_map_elem (5.13),
 *             global functions taking pointers (5.12)
 *   compat    (bpf/compat.bpf.c, OA_COMPAT) none of them, for 5.10 to 5.16:
 *             enter programs keep a syscall's arguments for its exit,
 *             bounded loops of global functions that take only scalars,
 *             a walk of the exiting process's fd numbers; no BPF atomics
 *             but add (5.12), so no target_bits; and preallocated series
 *             maps shared by the CPUs, since before 6.1 a tracepoint
 *             program on a map allocated at run time makes the kernel
 *             WARN (the loader turns them so: kernel/loader.c)
 *
 * Only the mechanisms differ: the parser, the framing's decisions and what
 * is recorded are the same code in both.
 */
#ifndef VARIANT_BPF_H
#define VARIANT_BPF_H

#ifdef OA_COMPAT
/* the compat build's programs and global functions are its own, by name */
#define OA_NAME(name) name##_compat
/*
 * 5.10's verifier takes only scalars (and the context) as a global
 * function's arguments: what takes map values is inlined instead.
 */
#define OA_POINTER_ARGS_FUNC static __always_inline
/* series and client_series values are every CPU's: added to atomically */
#define OA_SERIES_SHARED 1
#else
#define OA_NAME(name)	     name
#define OA_POINTER_ARGS_FUNC __noinline
/* series and client_series are per-CPU: plain adds */
#define OA_SERIES_SHARED     0
#endif

/* BPF_PROG (bpf_tracing.h) with OA_NAME expanded before BPF_PROG pastes the name */
#define OA_BPF_PROG(name, args...) BPF_PROG(name, args)

#endif /* VARIANT_BPF_H */
