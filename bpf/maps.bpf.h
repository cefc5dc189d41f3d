/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Everything the kernel side keeps, declared once for every program: the
 * kernel-only value layouts, the maps, and the settings the loader writes
 * into rodata before load. The maps and settings are defined in
 * maps.bpf.c; the programs (http.bpf.c, targets.bpf.c, frame.bpf.c) are linked with it
 * into the one object the skeleton is made from.
 */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "otel_agent.h"
#include "http_frame.h"

enum conn_kind {
	CONN_UNKNOWN,  /* no complete first line yet */
	CONN_SERVER,   /* requests are read, responses written */
	CONN_CLIENT,   /* requests are written, responses read: the target is the client */
	CONN_NOT_HTTP, /* first data was not HTTP/1.x: ignored from then on */
	CONN_UPGRADED, /* switched protocol after a 101: ignored from then on */
	CONN_IGNORED,  /* not a TCP socket (file, pipe, Unix socket) */
};

/*
 * Per-connection state: the value of conns. What every request touches
 * comes first, so that it takes as few cache lines as it can: the queue,
 * the flags, both directions' framing and the request-line parser; then
 * what only client connections, --body-sizes and pipelining use.
 */
struct conn_val {
	struct conn_queue q; /* first: user space reads it (otel_agent.h) */
	__u64 line_start_ns; /* when the request line being read began */
	__u16 line_len;	     /* bytes of the current request line so far */
	__u8 kind;	     /* enum conn_kind */
	__u8 reset;	     /* a read or write failed with a reset */
	__u8 fresh;    /* accepted or connected while traced: its first data starts a message */
	__u8 outbound; /* the target connected it: it would be the client */
	__u8 queued;   /* the request whose headers are being read is in the queue */
	__u8 line_in_first;  /* the request line's path is parsed into q.first (queue empty) */
	__u8 answer_pending; /* `answer` is answered and not recorded yet: its size is to come */
	__u8 skip_responses; /* responses still due to requests that were not queued */
	__u8 skip_head;	     /* bit i: the i-th of those answers a HEAD */
	__u8 _pad[5];
	struct dir_state req;  /* requests: read by a server, written by a client */
	struct dir_state resp; /* responses: written by a server, read by a client */
	struct http_req_parser parser;
	__u8 peer_family; /* 4 or 6, for an outbound connection */
	__u8 answer_version;
	__u16 peer_port; /* host order */
	__u16 answer_status;
	__u8 _pad2[2];
	__u8 peer_addr[16];
	__u64 answer_dur_ns;
	struct req_val answer;	/* with --body-sizes: answered, until its body's size is known */
	char path[OA_MAX_PATH]; /* the request line's path while the queue is not empty */
};

/*
 * Where the request line being read keeps its path: in the queue's first
 * entry when nothing was waiting as it began (request_start_step), else in
 * the connection's own path until it is queued.
 */
static __always_inline char *line_path(struct conn_val *c)
{
	return c->line_in_first ? c->q.first.key.path : c->path;
}

/*
 * Where the framing is in the bytes of one syscall (frame.bpf.h): the
 * segment being framed, and the iovecs and messages still to come.
 */
struct frame {
	__u64 base;	  /* user address of the segment being framed */
	__u64 iov;	  /* user address of the next struct iovec */
	__u64 mmsg;	  /* user address of the next struct mmsghdr */
	__u64 bytes_left; /* bytes of the current message not given to a segment yet */
	__u32 iov_left;	  /* iovecs left in the current message */
	__u32 msg_left;	  /* mmsghdr messages left */
	__u32 len;	  /* bytes in this segment */
	__u32 pos;	  /* next byte to look at */
	__u32 chunk_off;  /* segment offset of scratch.buf[0] */
	__u32 chunk_len;  /* bytes valid in scratch.buf */
	__u32 tgid;
	__s32 fd;
	__u8 first;	    /* the next segment starts the syscall's data */
	__u8 syscall_start; /* pos 0 is the first byte the syscall moved */
	__u8 resync;	    /* trying to pick up an unframed stream */
	__u8 stop;
	__u8 have_next; /* next_iov holds the iovec at iov, read with the one before it */
	__u8 _pad[3];
	struct iovec next_iov;
};

/* Per-CPU working memory: too large for the 512-byte BPF stack. */
struct scratch {
	struct frame fr;
	char buf[HTTP_WINDOW];
	char pad[16]; /* word reads near the end of buf stay inside the value */
	struct conn_val conn;
	struct req_val req;
	struct client_key ckey;
	struct http_stats fresh; /* a new series' value: no counts, first_ns stamped */
	__u8 shared;		 /* the series value found is series_spill's, shared by CPUs */
};

/*
 * The maps' layouts are named types so that each map is written once: the
 * programs see these extern declarations, maps.bpf.c the one definition,
 * and the linker checks that they agree.
 */

/* Processes whose syscalls are traced (tgid -> unused). */
struct targets_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
};
extern struct targets_map targets SEC(".maps");

/*
 * The same set as targets, one bit per tgid (bit tgid % 64 of word tgid /
 * 64), for the check every traced syscall of every process on the machine
 * makes: an array lookup the verifier inlines, where a hash lookup is a
 * helper call, a hash and a key compare. A bit is set by whoever inserted
 * the tgid into targets, after it did, and cleared by whoever deleted it
 * (targets.bpf.c, and the loader through its mmap of this map). The loader
 * sizes it to pid_max; a tgid past its end is looked up in targets.
 */
struct target_bits_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OA_TARGET_BITS_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
};
extern struct target_bits_map target_bits SEC(".maps");

/* --port: local TCP ports (host order) whose servers are targets. */
struct ports_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_SELECTORS);
	__type(key, __u16);
	__type(value, __u8);
};
extern struct ports_map ports SEC(".maps");

/* --comm: process names (at most 15 characters, zero-padded). */
struct comms_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_SELECTORS);
	__type(key, struct comm_key);
	__type(value, __u8);
};
extern struct comms_map comms SEC(".maps");

/* --exe: executable paths (zero-padded), as given and resolved. */
struct exes_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_SELECTORS);
	__type(key, struct exe_key);
	__type(value, __u8);
};
extern struct exes_map exes SEC(".maps");

/* Per-CPU room for an exe_key: too large for the BPF stack next to everything else. */
struct exe_scratch_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exe_key);
};
extern struct exe_scratch_map exe_scratch SEC(".maps");

/* The state of each socket a target read from or accepted, connected. */
struct conns_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_CONNS);
	__type(key, struct conn_key);
	__type(value, struct conn_val);
};
extern struct conns_map conns SEC(".maps");

/* Requests pipelined behind a connection's oldest, waiting for their response. */
struct reqs_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_CONNS);
	__type(key, struct req_key);
	__type(value, struct req_val);
};
extern struct reqs_map reqs SEC(".maps");

/* Allocated as series appear: a preallocated per-CPU map costs max_entries x CPUs. */
struct series_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, OA_MAX_SERIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct series_key);
	__type(value, struct http_stats);
};
extern struct series_map series SEC(".maps");

/*
 * Series the kernel could not give an entry of their own in `series`:
 * the overflow series of targets at their cap, and series whose per-CPU
 * value could not be allocated at that moment (the per-CPU allocator
 * cannot grow where BPF runs; it grows later, from a worker, so a burst of
 * new series finds it empty). Preallocated, so an insert fails only when
 * the map is full, and not per CPU, so its size does not grow with the
 * CPUs: its values are added to atomically (conn.bpf.h, STAT_ADD).
 */
struct series_spill_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_SPILL);
	__type(key, struct series_key);
	__type(value, struct http_stats);
};
extern struct series_spill_map series_spill SEC(".maps");

/*
 * Series each target process has in `series` (tgid -> count): the kernel
 * counts those it creates, user space those it folded and deleted; the
 * difference is held under max_series_per_target.
 */
struct series_count_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, OA_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u64);
};
extern struct series_count_map series_made SEC(".maps");
extern struct series_count_map series_freed SEC(".maps");

struct client_series_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, OA_MAX_CLIENT_SERIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct client_key);
	__type(value, struct http_stats);
};
extern struct client_series_map client_series SEC(".maps");

struct scratch_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
};
extern struct scratch_map scratch SEC(".maps");

/*
 * Arguments of a read/write-family syscall. The current build reads them at
 * the syscall's exit from the user registers the kernel saved at entry
 * (bpf_task_pt_regs, 5.15); the compat one keeps them from the enter
 * program in syscall_args.
 */
struct io_args {
	__u64 buf;   /* a buffer, an iovec array, a msghdr or an mmsghdr array */
	__u64 count; /* iovec or mmsghdr entries */
	__s32 fd;
	__u32 _pad;
};

/*
 * Compat build only: thread (pid_tgid) -> its syscall's arguments, from
 * the enter program to the exit program, which takes the entry away. A
 * thread that dies inside a syscall leaves one behind: the least recently
 * used make room. The loader leaves it one entry when the compat programs
 * are not loaded.
 */
struct syscall_args_map {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct io_args);
};
extern struct syscall_args_map syscall_args SEC(".maps");

/* The agent's own counters, exported as otel_agent_* series (counters.bpf.h). */
struct events_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OA_EV_COUNT);
	__type(key, __u32);
	__type(value, __u64);
};
extern struct events_map events SEC(".maps");

struct map_errors_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OA_ERR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
};
extern struct map_errors_map map_errors SEC(".maps");

/* Histogram bounds in nanoseconds and in bytes, ascending. */
extern const volatile __u64 bounds_ns[OA_MAX_BOUNDS];
extern const volatile __u32 nr_bounds;
extern const volatile __u64 size_bounds[OA_MAX_SIZE_BOUNDS];
extern const volatile __u32 nr_size_bounds;
/* How many of each selector the loader writes, and the agent's own tgid. */
extern const volatile __u32 nr_ports;
extern const volatile __u32 nr_comms;
extern const volatile __u32 nr_exes;
extern const volatile __u32 agent_tgid;
/*
 * Whether target_bits is kept (the kernel has BPF atomic or/and, 5.12+):
 * without it every check is a targets lookup.
 */
extern const volatile __u8 use_target_bits;
/* Series a target may hold in `series` (0: no cap), --max-series-per-target. */
extern const volatile __u32 max_series_per_target;
/* Whether series count body sizes (--body-sizes): the work is skipped when nobody exports them. */
extern const volatile __u8 count_body_sizes;

#endif /* MAPS_BPF_H */
