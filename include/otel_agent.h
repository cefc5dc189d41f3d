/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structs and constants shared by the BPF programs (bpf/) and the
 * user-space loader: map sizes, map keys and values, counter indexes, limits.
 */
#ifndef OTEL_AGENT_H
#define OTEL_AGENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Kernel map sizes (entries): the maps are declared with them (bpf/maps.bpf.h),
 * and they are the defaults --help shows for the options that resize them.
 */
#define OA_MAX_CONNS	     32768 /* conns and reqs; --max-connections */
#define OA_MAX_SERIES	     16384 /* series; --max-series */
#define OA_MAX_CLIENT_SERIES 4096  /* client_series */
#define OA_MAX_SPILL	     4096  /* series_spill: preallocated */
#define OA_MAX_TARGETS	     4096  /* targets: processes traced at once */
/*
 * target_bits words (64 tgids each) the object declares: pid_max's
 * largest value (2^22). The loader sizes the map to the running pid_max.
 */
#define OA_TARGET_BITS_WORDS (4194304 / 64)
/* Room in each selector map (ports, comms, exes); an --exe may take two entries. */
#define OA_MAX_SELECTORS 64

/* Longest path kept per series; longer paths are truncated (and flagged). */
#define OA_MAX_PATH 128
/* Histogram bounds the kernel can count; one more bucket holds +Inf. */
#define OA_MAX_BOUNDS 31
#define OA_NR_BUCKETS (OA_MAX_BOUNDS + 1)

enum oa_method {
	OA_METHOD_OTHER = 0,
	OA_METHOD_GET,
	OA_METHOD_HEAD,
	OA_METHOD_POST,
	OA_METHOD_PUT,
	OA_METHOD_DELETE,
	OA_METHOD_CONNECT,
	OA_METHOD_OPTIONS,
	OA_METHOD_TRACE,
	OA_METHOD_PATCH,
	OA_METHOD_COUNT,
};

/* HTTP minor version as seen on the wire: 10 for HTTP/1.0, 11 for HTTP/1.1. */
#define OA_HTTP_10 10
#define OA_HTTP_11 11

/* How a request ended when it got no response. */
enum oa_conn_error {
	OA_CONN_OK = 0, /* answered: status is the final status */
	OA_CONN_CLOSED, /* the connection was closed before the response (status 0) */
	OA_CONN_RESET,	/* the connection was reset before the response (status 0) */
	OA_CONN_ERROR_COUNT,
};

/* One aggregated series in the kernel: per target process, method, status, path. */
struct series_key {
	__u32 tgid;
	__u16 status;
	__u8 method;
	__u8 version;
	__u8 error; /* enum oa_conn_error */
	__u8 flags; /* OA_SERIES_OVERFLOW */
	__u8 _pad[2];
	char path[OA_MAX_PATH];
};

/*
 * series_key.flags: the target's overflow series in the kernel, for
 * requests whose own series the kernel did not create (the target held
 * --max-series-per-target series, or the map was full); its path is empty.
 */
#define OA_SERIES_OVERFLOW 1

/* Body-size histogram bounds (bytes) the kernel can count; one more bucket holds +Inf. */
#define OA_MAX_SIZE_BOUNDS 15
#define OA_NR_SIZE_BUCKETS (OA_MAX_SIZE_BOUNDS + 1)

/* Body sizes, where known (from Content-Length); buckets not cumulative. */
struct size_hist {
	__u64 count;
	__u64 sum;
	__u64 buckets[OA_NR_SIZE_BUCKETS];
};

/*
 * What one histogram family counts for a series: requests, their duration
 * and their body sizes, and when the series first appeared (admission
 * under the cardinality cap follows it). The value of the kernel's series and client_series
 * maps (one per CPU), and of every series user space exports. Buckets are
 * not cumulative: bucket i counts bounds[i-1] < d <= bounds[i].
 */
struct http_stats {
	__u64 first_ns; /* when the kernel created the series (ktime), on that CPU only; 0 elsewhere */
	__u64 count;
	__u64 sum_ns;
	__u64 buckets[OA_NR_BUCKETS];
	struct size_hist req_body;
	struct size_hist resp_body;
};

/* Outgoing requests of a target (it is the client), by server and outcome. */
struct client_key {
	__u32 tgid;
	__u16 status;
	__u16 port; /* server port, host order */
	__u8 method;
	__u8 version;
	__u8 error;  /* enum oa_conn_error */
	__u8 family; /* 4 or 6 */
	__u8 addr[16];
	__u8 _pad[4];
};

/* A socket of a target, keyed by process and fd. */
struct conn_key {
	__u32 tgid;
	__s32 fd;
};

/* The per-connection state (struct conn_val) is kernel-only: bpf/maps.bpf.h. */

/* A request waiting for its response: the seq-th request read on (tgid, fd). */
struct req_key {
	__u32 tgid;
	__s32 fd;
	__u32 seq;
	__u32 _pad;
};

struct req_val {
	__u64 start_ns;
	__u64 body_size;
	__u8 method;
	__u8 version;
	__u8 body_known;    /* body_size came from a Content-Length */
	__u8 client;	    /* an outgoing request of the target */
	__u8 dropped_after; /* requests after it that could not be queued (at most 255) */
	__u8 dropped_head;  /* bit i: the i-th of them was a HEAD (its response has no body) */
	__u8 _pad[2];
	/*
	 * The series key it is recorded under: the path is set when it is
	 * queued, the rest when it is recorded, and the kernel looks the
	 * series up with the key where it is rather than a copy.
	 */
	struct series_key key;
};

/*
 * The start of the kernel's per-connection state (struct conn_val in
 * bpf/maps.bpf.h), which user space reads to count waiting requests. The
 * oldest waiting request is kept here, in the connection's own entry, so
 * the common case (one request at a time) costs no reqs map insert and
 * delete; requests pipelined behind it wait in reqs under their seq.
 */
struct conn_queue {
	__u32 head;	      /* seq of the oldest waiting request */
	__u32 tail;	      /* seq the next request gets */
	struct req_val first; /* request seq head, while head != tail */
};

/* Things the programs saw, exported as otel_agent_* counters (per-CPU array index). */
enum oa_event {
	OA_EV_REQUESTS,		   /* request lines recognised */
	OA_EV_RESPONSES,	   /* final responses matched to a request */
	OA_EV_UNMATCHED_RESPONSES, /* status lines with no request waiting */
	OA_EV_REQUESTS_DROPPED,	   /* requests beyond the per-connection queue: not timed */
	OA_EV_PATH_TRUNCATED,	   /* path longer than OA_MAX_PATH */
	OA_EV_NOT_HTTP,		   /* TCP connections whose first data was not HTTP/1.x */
	OA_EV_UPGRADED,		   /* connections switched protocol (101): no longer parsed */
	OA_EV_CONN_ERRORS,	   /* requests ended by close or reset before a response */
	OA_EV_STALE_RECLAIMED,	   /* connection state dropped because its fd was reused */
	OA_EV_TARGETS_ADDED,	   /* processes added in the kernel (fork, exec, rename, port) */
	OA_EV_SERIES_CAPPED,   /* requests put in their target's overflow series by the kernel */
	OA_EV_SERIES_SPILLED,  /* series the kernel kept in series_spill: no entry in series */
	OA_EV_FRAME_STEPS_OUT, /* syscalls whose data outlasted the framing's steps */
	OA_EV_ARGS_MISSING,    /* compat: a target's syscall whose arguments were not found */
	OA_EV_COUNT,
};

/* Map updates that failed, by map (per-CPU array index). */
enum oa_map_error {
	OA_ERR_CONNS,	/* conns full */
	OA_ERR_SERIES,	/* series full */
	OA_ERR_TARGETS, /* a process that should be traced was not added */
	OA_ERR_REQS,	/* reqs full: a request could not be queued */
	OA_ERR_COUNT,
};

/* Target selectors the loader writes for the kernel (bpf/targets.bpf.c). */
#define OA_MAX_COMM 16	/* TASK_COMM_LEN */
#define OA_MAX_EXE  256 /* longest --exe path matched */

struct comm_key {
	char comm[OA_MAX_COMM];
};

struct exe_key {
	char path[OA_MAX_EXE];
};

#endif /* OTEL_AGENT_H */
