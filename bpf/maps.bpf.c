// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The one definition of every map and load-time setting of the kernel side;
 * what each holds is in maps.bpf.h. The loader sizes the maps and writes
 * the settings between open and load.
 */
#include "maps.bpf.h"

struct events_map events SEC(".maps");
struct map_errors_map map_errors SEC(".maps");

struct targets_map targets SEC(".maps");
struct target_bits_map target_bits SEC(".maps");
struct ports_map ports SEC(".maps");
struct comms_map comms SEC(".maps");
struct exes_map exes SEC(".maps");
struct exe_scratch_map exe_scratch SEC(".maps");

struct conns_map conns SEC(".maps");
struct reqs_map reqs SEC(".maps");
struct series_map series SEC(".maps");
struct series_spill_map series_spill SEC(".maps");
struct series_count_map series_made SEC(".maps");
struct series_count_map series_freed SEC(".maps");
struct client_series_map client_series SEC(".maps");
struct scratch_map scratch SEC(".maps");
struct syscall_args_map syscall_args SEC(".maps");

const volatile __u32 nr_ports = 0;
const volatile __u32 nr_comms = 0;
const volatile __u32 nr_exes = 0;
const volatile __u32 agent_tgid = 0;
const volatile __u8 use_target_bits = 0;
const volatile __u32 max_series_per_target = 0;
const volatile __u8 count_body_sizes = 0;

const volatile __u64 bounds_ns[OA_MAX_BOUNDS] = {};
const volatile __u32 nr_bounds = 0;
const volatile __u64 size_bounds[OA_MAX_SIZE_BOUNDS] = {};
const volatile __u32 nr_size_bounds = 0;
