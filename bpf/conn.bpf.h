/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What happens to a request on a connection (struct conn_val, maps.bpf.h):
 * queued when its request line has been read, answered by a final status
 * line (recorded into the series), or ended by a close or reset (recorded
 * as an error).
 */
#ifndef CONN_BPF_H
#define CONN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "otel_agent.h"
#include "http_parse.h"
#include "maps.bpf.h"
#include "counters.bpf.h"
#include "map_insert.bpf.h"
#include "variant.bpf.h"

/* Requests a connection may have waiting (HTTP pipelining); more are counted, not timed. */
#define OA_MAX_QUEUED 16

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* The bucket of v over bounds[0..nr) (ascending; at most max of them): the last one is +Inf. */
static __always_inline __u32 bucket_index(const volatile __u64 *bounds, __u32 nr, __u32 max,
					  __u64 v)
{
	__u32 i;

	for (i = 0; i < max; i++) {
		if (i >= nr || v <= bounds[i])
			return i;
	}
	return max;
}

static __always_inline __u32 bucket_of(__u64 dur_ns)
{
	return bucket_index(bounds_ns, nr_bounds, OA_MAX_BOUNDS, dur_ns);
}

static __always_inline __u32 size_bucket_of(__u64 size)
{
	return bucket_index(size_bounds, nr_size_bounds, OA_MAX_SIZE_BOUNDS, size);
}

/* Response body size for record() when there is none to add. */
#define NO_SIZE (~0ULL)

/*
 * Adds one request to the series value v: its duration, and its request
 * and response body sizes unless NO_SIZE; atomically when shared (a
 * series_spill value, which every CPU adds to). A global function
 * (series.bpf.c): verified once, not at every place a request is recorded.
 */
OA_POINTER_ARGS_FUNC int series_add(struct http_stats *v, __u64 dur_ns, __u64 req_size,
				    __u64 resp_size, int shared);

/* The client series of s->ckey, created if missing; a failed creation is counted. */
static __always_inline struct http_stats *client_series_value(struct scratch *s)
{
	struct http_stats *v = bpf_map_lookup_elem(&client_series, &s->ckey);

	if (v)
		return v;
	s->fresh.first_ns = bpf_ktime_get_ns();
	return insert_and_lookup(&client_series, &s->ckey, &s->fresh, OA_ERR_SERIES);
}

/* Whether tgid holds max_series_per_target series in `series` (made minus folded). */
static __always_inline bool target_at_cap(__u32 tgid)
{
	__u64 *made, *freed;

	if (!max_series_per_target)
		return false;
	made = bpf_map_lookup_elem(&series_made, &tgid);
	if (!made)
		return false;
	freed = bpf_map_lookup_elem(&series_freed, &tgid);
	return *made - (freed ? *freed : 0) >= max_series_per_target;
}

/* One more series of tgid in `series`; one that cannot be counted is a map error. */
static __always_inline void count_series_made(__u32 tgid)
{
	__u64 one = 1, *made = bpf_map_lookup_elem(&series_made, &tgid);

	if (made) {
		__sync_fetch_and_add(made, 1);
		return;
	}
	if (!bpf_map_update_elem(&series_made, &tgid, &one, BPF_NOEXIST))
		return;
	made = bpf_map_lookup_elem(&series_made, &tgid); /* another CPU made it first */
	if (made)
		__sync_fetch_and_add(made, 1);
	else
		count_map_error(OA_ERR_TARGETS);
}

/*
 * The entry of s->key in series_spill, created if missing; NULL (a map
 * error) when it is full. Its value is shared by all CPUs (s->shared).
 */
static __always_inline struct http_stats *spill_value(struct scratch *s, struct series_key *key)
{
	struct http_stats *v = bpf_map_lookup_elem(&series_spill, key);

	s->shared = 1;
	if (v)
		return v;
	return insert_and_lookup(&series_spill, key, &s->fresh, OA_ERR_SERIES);
}

/*
 * The series of s->key, created if missing: while the target holds fewer
 * than its cap, under its own key in `series`; at the cap, as the
 * target's overflow series (same status, method, version and error, no
 * path) in series_spill, so that a flood of new paths costs one entry and
 * loses nothing. A series whose entry cannot be allocated keeps its key in
 * series_spill. What does not fit even there is a map error.
 */
static __always_inline struct http_stats *server_series_value(struct scratch *s,
							      struct series_key *key)
{
	struct http_stats *v = bpf_map_lookup_elem(&series, key);

	s->shared = OA_SERIES_SHARED;
	if (v)
		return v;
	s->fresh.first_ns = bpf_ktime_get_ns();
	if (target_at_cap(key->tgid)) {
		/* a series that found no room before stays where it was kept */
		v = bpf_map_lookup_elem(&series_spill, key);
		if (v) {
			s->shared = 1;
			return v;
		}
		count_event(OA_EV_SERIES_CAPPED);
		key->flags = OA_SERIES_OVERFLOW;
		__builtin_memset(key->path, 0, OA_MAX_PATH);
		return spill_value(s, key);
	}
	if (!bpf_map_update_elem(&series, key, &s->fresh, BPF_NOEXIST))
		count_series_made(key->tgid);
	v = bpf_map_lookup_elem(&series, key);
	if (v)
		return v;
	count_event(OA_EV_SERIES_SPILLED);
	return spill_value(s, key);
}

/*
 * The series a request belongs to: by path for requests the target
 * answered, by server address for requests it sent. The request's own
 * key is completed and used (the request is not recorded twice).
 */
static __always_inline struct http_stats *series_of(struct scratch *s, const struct conn_val *c,
						    struct req_val *req, __u32 tgid, __u16 status,
						    __u8 version, __u8 error)
{
	if (req->client) {
		__builtin_memset(&s->ckey, 0, sizeof(s->ckey));
		s->ckey.tgid = tgid;
		s->ckey.status = status;
		s->ckey.port = c->peer_port;
		s->ckey.method = req->method;
		s->ckey.version = req->version ? req->version : version;
		s->ckey.error = error;
		s->ckey.family = c->peer_family;
		__builtin_memcpy(s->ckey.addr, c->peer_addr, sizeof(s->ckey.addr));
		s->shared = OA_SERIES_SHARED;
		return client_series_value(s);
	}
	req->key.tgid = tgid;
	req->key.status = status;
	req->key.method = req->method;
	req->key.version = req->version ? req->version : version;
	req->key.error = error;
	req->key.flags = 0;
	return server_series_value(s, &req->key);
}

/*
 * Adds one request of req to its series: duration, request body size, and
 * the response body size unless it is NO_SIZE.
 */
static __always_inline void record(struct scratch *s, const struct conn_val *c, struct req_val *req,
				   __u32 tgid, __u16 status, __u8 version, __u8 error, __u64 dur_ns,
				   __u64 resp_size)
{
	struct http_stats *v = series_of(s, c, req, tgid, status, version, error);

	if (v)
		series_add(v, dur_ns, req->body_known ? req->body_size : NO_SIZE, resp_size,
			   s->shared);
}

/*
 * With --body-sizes, records the answered request once its response's
 * headers have ended (size is its body's size, or NO_SIZE when not known),
 * or when the headers will not end where the framing can see it: the next
 * response starts, the connection ends. One series update per response.
 * Without, answer_request has recorded it already and this does nothing.
 */
static __always_inline void record_answer(struct scratch *s, struct conn_val *c, __u32 tgid,
					  __u64 size)
{
	if (!c->answer_pending)
		return;
	c->answer_pending = 0;
	record(s, c, &c->answer, tgid, c->answer_status, c->answer_version, OA_CONN_OK,
	       c->answer_dur_ns, size);
}

/* The request whose headers just ended has a body of size bytes. */
static __always_inline void set_request_size(struct conn_val *c, __u32 tgid, __s32 fd, __u64 size)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.tail - 1 };
	struct req_val *r = &c->q.first;

	if (!c->queued)
		return;
	if (rk.seq != c->q.head)
		r = bpf_map_lookup_elem(&reqs, &rk);
	if (!r)
		return;
	r->body_size = size;
	r->body_known = 1;
}

/* r is c's q.first (first) or a request queued behind it. */
static __always_inline void fill_request(struct req_val *r, struct conn_val *c,
					 const struct http_request_info *info, bool first)
{
	r->start_ns = c->line_start_ns;
	r->body_size = 0;
	r->method = info->method;
	r->version = info->version;
	r->body_known = 0;
	r->client = c->kind == CONN_CLIENT;
	r->dropped_after = 0;
	r->dropped_head = 0;
	/* parsed in place when the queue was empty as the line began (request_start_step) */
	if (!(first && c->line_in_first))
		__builtin_memcpy(r->key.path, line_path(c), OA_MAX_PATH);
}

/*
 * A request could not be queued (the connection's queue is full, or reqs
 * is): its response is still due, right after that of the request queued
 * last, which notes it so that the response is passed over in its turn
 * rather than taken for the answer to a request queued later.
 */
static __always_inline void note_dropped(struct conn_val *c, __u32 tgid, __s32 fd, bool head)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.tail - 1 };
	struct req_val *r;

	if (c->q.tail == c->q.head)
		return;
	r = c->q.tail - 1 == c->q.head ? &c->q.first : bpf_map_lookup_elem(&reqs, &rk);
	if (!r || r->dropped_after == 255)
		return;
	/* a HEAD's response has no body: the framing must know it to find the next one */
	if (head && r->dropped_after < 8)
		r->dropped_head |= 1 << r->dropped_after;
	r->dropped_after++;
}

/*
 * Queues the request whose line was just read (path and parser in c): in
 * the connection's entry when nothing else is waiting, in reqs otherwise.
 */
static __always_inline void push_request(struct scratch *s, struct conn_val *c, __u32 tgid,
					 __s32 fd, const struct http_request_info *info)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.tail };

	count_event(OA_EV_REQUESTS);
	if (info->truncated)
		count_event(OA_EV_PATH_TRUNCATED);
	c->queued = 0;
	if (c->q.tail - c->q.head >= OA_MAX_QUEUED) {
		count_event(OA_EV_REQUESTS_DROPPED);
		note_dropped(c, tgid, fd, info->method == OA_METHOD_HEAD);
		return;
	}
	if (c->q.tail == c->q.head) {
		fill_request(&c->q.first, c, info, true);
	} else {
		fill_request(&s->req, c, info, false);
		if (bpf_map_update_elem(&reqs, &rk, &s->req, BPF_ANY)) {
			count_map_error(OA_ERR_REQS);
			note_dropped(c, tgid, fd, info->method == OA_METHOD_HEAD);
			return;
		}
	}
	c->q.tail++;
	c->queued = 1;
}

/*
 * The oldest waiting request (c->q.first) has been dealt with: the next
 * one, if any, moves from reqs into the connection's entry.
 */
static __always_inline void advance_queue(struct conn_val *c, __u32 tgid, __s32 fd)
{
	struct req_key rk = { .tgid = tgid, .fd = fd, .seq = c->q.head + 1 };
	struct req_val *r;
	__u32 skip = c->skip_responses + c->q.first.dropped_after;

	if (c->skip_responses < 8)
		c->skip_head |= c->q.first.dropped_head << c->skip_responses;
	c->skip_responses = skip < 255 ? skip : 255;
	c->q.head++;
	if (c->q.head == c->q.tail)
		return;
	r = bpf_map_lookup_elem(&reqs, &rk);
	if (!r) {
		/* only user space's reclaim deletes a queued entry: the rest is gone too */
		c->q.head = c->q.tail;
		return;
	}
	c->q.first = *r;
	bpf_map_delete_elem(&reqs, &rk);
}

/*
 * A final status line: the oldest waiting request is answered. Returns
 * whether that request was a HEAD (its response has no body).
 */
static __always_inline bool answer_request(struct scratch *s, struct conn_val *c, __u32 tgid,
					   __s32 fd, int status, __u8 version)
{
	__u64 dur_ns;
	bool head;

	if (c->skip_responses) {
		/* the answer to a request that was not queued: neither matched nor unmatched */
		record_answer(s, c, tgid, NO_SIZE);
		head = c->skip_head & 1;
		c->skip_head >>= 1;
		c->skip_responses--;
		return head;
	}
	if (c->q.head == c->q.tail) {
		count_event(OA_EV_UNMATCHED_RESPONSES);
		return false;
	}
	count_event(OA_EV_RESPONSES);
	record_answer(s, c, tgid, NO_SIZE);
	dur_ns = bpf_ktime_get_ns() - c->q.first.start_ns;
	head = c->q.first.method == OA_METHOD_HEAD;
	if (count_body_sizes) {
		/* recorded when the headers have told the body's size */
		c->answer = c->q.first;
		c->answer_dur_ns = dur_ns;
		c->answer_status = (__u16)status;
		c->answer_version = version;
		c->answer_pending = 1;
	} else {
		/* nothing to wait for: recorded now, from the queue's own entry */
		record(s, c, &c->q.first, tgid, (__u16)status, version, OA_CONN_OK, dur_ns,
		       NO_SIZE);
	}
	advance_queue(c, tgid, fd);
	return head;
}

/*
 * The oldest request waiting on (tgid, fd) ends with its connection, by
 * error: recorded, and the queue moves on. Returns 1 when none was waiting.
 * A global function with scalar arguments only (conn.bpf.c): verified once,
 * on every kernel, rather than once per waiting request.
 */
int OA_NAME(fail_oldest)(__u32 tgid, __s32 fd, int error);

/* The connection ends: every request still waiting is recorded as ended by error. */
static __always_inline void fail_waiting(struct conn_val *c, __u32 tgid, __s32 fd)
{
	int error = c->reset ? OA_CONN_RESET : OA_CONN_CLOSED;

	for (__u32 i = 0; i < OA_MAX_QUEUED && c->q.head != c->q.tail; i++) {
		if (OA_NAME(fail_oldest)(tgid, fd, error))
			break;
	}
}

/*
 * The connection c of (tgid, fd) ends (closed, or can no longer answer):
 * an answer waiting for its size is recorded, requests waiting are errors.
 */
static __always_inline void end_requests(struct conn_val *c, __u32 tgid, __s32 fd)
{
	struct scratch *s = get_scratch();

	if (s && (c->kind == CONN_SERVER || c->kind == CONN_CLIENT)) {
		record_answer(s, c, tgid, NO_SIZE);
		fail_waiting(c, tgid, fd);
	}
}

#endif /* CONN_BPF_H */
