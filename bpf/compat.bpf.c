// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The programs for kernels without bpf_loop and the other helpers of the
 * current build (5.10 to 5.16): every program's source built again with
 * OA_COMPAT (variant.bpf.h says what changes), in one unit so that what is
 * a global function taking pointers in the current build is inlined here.
 * Linked into the same object; the loader loads one build's programs.
 */
#define OA_COMPAT
#include "http.bpf.c"
#include "targets.bpf.c"
#include "frame.bpf.c"
#include "conn.bpf.c"
#include "series.bpf.c"
