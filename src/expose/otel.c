// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns /metrics/otel (render_otel_as, render.h): target_info, the
 * OpenTelemetry HTTP server and client families under their semantic
 * convention names and labels, then the self-metrics; in Prometheus text
 * or OpenMetrics.
 *
 * Series past the cardinality cap (oa_series.overflow) are summed, per
 * family, into one series whose only attribute is otel_metric_overflow.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose/expo.h"
#include "expose/render.h"
#include "expose/runs.h"
#include "expose/self_metrics.h"
#include "expose/target_info.h"
#include "metrics/buckets.h"

#define OTEL_DURATION	  "http_server_request_duration_seconds"
#define OTEL_REQ_BODY	  "http_server_request_body_size_bytes"
#define OTEL_RESP_BODY	  "http_server_response_body_size_bytes"
#define OTEL_ACTIVE	  "http_server_active_requests"
#define CLIENT_DURATION	  "http_client_request_duration_seconds"
#define CLIENT_REQ_BODY	  "http_client_request_body_size_bytes"
#define CLIENT_RESP_BODY  "http_client_response_body_size_bytes"
#define CLIENT_ERROR_FROM 400

/*
 * The escaped labels of each run of series with the same OpenTelemetry
 * labels: built for the duration histograms, copied again for the two
 * body-size ones instead of escaped again.
 */
struct run_labels {
	struct text text; /* the runs' labels one after the other */
	size_t *end;	  /* where the labels of run k end in text */
	size_t n;
};

static void scope_labels(struct labels *ls, const struct oa_snapshot *s)
{
	label(ls, "otel_scope_name", OA_SCOPE_NAME);
	label(ls, "otel_scope_version", s->version ? s->version : "unknown");
}

static const char *version_name(__u8 v)
{
	return v == OA_HTTP_10 ? "1.0" : "1.1";
}

/* The semantic-convention labels of a server series (status is scratch space for its text). */
static void server_labels(struct labels *ls, const struct oa_snapshot *s,
			  const struct oa_series *acc, char status[NUM_LEN])
{
	number_value(status, acc->status);
	ls->n = 0;
	label(ls, "http_request_method", method_name(acc->method));
	if (!acc->error)
		label(ls, "http_response_status_code", status);
	label(ls, "url_scheme", "http");
	if (series_version(acc->version))
		label(ls, "network_protocol_version", version_name(acc->version));
	label_n(ls, "http_route", acc->route, strnlen(acc->route, OA_MAX_ROUTE));
	if (acc->error)
		label(ls, "error_type", conn_error_name(acc->error));
	else if (acc->status >= SERVER_ERROR_FROM)
		label(ls, "error_type", status);
	scope_labels(ls, s);
}

/* Room for the labels of up to n runs: 0, or -ENOMEM. */
static int run_labels_init(struct run_labels *rl, size_t n)
{
	memset(rl, 0, sizeof(*rl));
	rl->end = calloc(n ? n : 1, sizeof(*rl->end));
	return rl->end ? 0 : -ENOMEM;
}

static void run_labels_free(struct run_labels *rl)
{
	text_free(&rl->text);
	free(rl->end);
}

/* Escapes the labels of the next run into rl and returns them. */
static struct label_text run_labels_add(struct expo *e, struct run_labels *rl,
					const struct labels *ls)
{
	size_t start = rl->text.len;

	text_labels(&rl->text, ls);
	expo_text_err(e, &rl->text);
	rl->end[rl->n++] = rl->text.len;
	return (struct label_text){ rl->text.p + start, rl->text.len - start };
}

/* The labels of run k, as run_labels_add escaped them. */
static struct label_text run_labels_get(const struct run_labels *rl, size_t k)
{
	size_t start = k ? rl->end[k - 1] : 0;

	return (struct label_text){ rl->text.p + start, rl->end[k] - start };
}

/*
 * http.server.request.duration: a histogram per label set, then the
 * overflow one. Keeps each run's escaped labels in rl for the body sizes.
 */
static void put_durations(struct expo *e, const struct oa_snapshot *s, const struct oa_series **v,
			  size_t nr_regular, const struct hist_layout *h, struct run_labels *rl)
{
	struct oa_series acc;
	struct label_text lt;
	struct labels ls;
	char status[NUM_LEN];
	size_t i, next;

	put_family(e, OTEL_DURATION, "histogram", "seconds", "Duration of HTTP server requests.");
	for (i = 0; i < nr_regular; i = next) {
		const struct oa_series *r =
			run_of(v, i, nr_regular, same_labels_otel, false, &acc, &next);

		server_labels(&ls, s, r, status);
		lt = run_labels_add(e, rl, &ls);
		put_histogram(e, OTEL_DURATION, &lt, h, &r->stats);
	}
	if (sum_overflow(v, nr_regular, s->nr_series, keep_all, &acc)) {
		overflow_labels(&ls);
		scope_labels(&ls, s);
		lt = escape_labels(e, &ls);
		put_histogram(e, OTEL_DURATION, &lt, h, &acc.stats);
	}
}

static const struct size_hist *body_size(const struct http_stats *st, bool response)
{
	return response ? &st->resp_body : &st->req_body;
}

/* http.server.request.body.size / response.body.size: where the size was known. */
static void put_body_sizes(struct expo *e, const struct oa_snapshot *s, const struct oa_series **v,
			   size_t nr_regular, const struct run_labels *rl, bool response)
{
	const char *name = response ? OTEL_RESP_BODY : OTEL_REQ_BODY;
	struct oa_series acc;
	size_t i, next, k;

	put_family(e, name, "histogram", "bytes",
		   response ? "Size of HTTP server response bodies."
			    : "Size of HTTP server request bodies.");
	for (i = 0, k = 0; i < nr_regular && k < rl->n; i = next, k++) {
		const struct oa_series *r =
			run_of(v, i, nr_regular, same_labels_otel, false, &acc, &next);
		const struct size_hist *h = body_size(&r->stats, response);
		struct label_text lt;

		if (!h->count)
			continue;
		lt = run_labels_get(rl, k);
		put_size_histogram(e, name, &lt, s, h);
	}
}

/* http.server.active_requests: requests read and not answered yet, by method. */
static void put_active(struct expo *e, const struct oa_snapshot *s)
{
	struct labels ls;
	bool seen[OA_METHOD_COUNT] = { false };
	size_t i;

	/* overflow series export no method: theirs (_OTHER's) must not unset a real _OTHER */
	for (i = 0; i < s->nr_series; i++)
		if (!s->series[i].overflow)
			seen[series_method(s->series[i].method)] = true;
	put_family(e, OTEL_ACTIVE, "gauge", NULL, "Number of active HTTP server requests.");
	for (i = 0; i < OA_METHOD_COUNT; i++) {
		if (!seen[i] && !s->active[i])
			continue;
		ls.n = 0;
		label(&ls, "http_request_method", method_name((__u8)i));
		label(&ls, "url_scheme", "http");
		scope_labels(&ls, s);
		put_u64(e, OTEL_ACTIVE, &ls, s->active[i]);
	}
}

/* The labels of a client series, escaped as escape_labels does. */
static struct label_text client_labels(struct expo *e, const struct oa_snapshot *s,
				       const struct oa_client_series *c)
{
	char status[NUM_LEN], port[NUM_LEN];
	struct labels ls = { 0 };

	number_value(status, c->status);
	label(&ls, "http_request_method", method_name(c->method));
	label(&ls, "server_address", c->server_address);
	label(&ls, "server_port", number_value(port, c->server_port));
	if (!c->error)
		label(&ls, "http_response_status_code", status);
	label(&ls, "url_scheme", "http");
	if (series_version(c->version))
		label(&ls, "network_protocol_version", version_name(c->version));
	/* for a client, 4xx is an error too */
	if (c->error)
		label(&ls, "error_type", conn_error_name(c->error));
	else if (c->status >= CLIENT_ERROR_FROM)
		label(&ls, "error_type", status);
	scope_labels(&ls, s);
	return escape_labels(e, &ls);
}

/* http.client.request.duration: requests the targets sent. */
static void put_client_durations(struct expo *e, const struct oa_snapshot *s,
				 const struct hist_layout *h)
{
	struct label_text lt;
	size_t i;

	put_family(e, CLIENT_DURATION, "histogram", "seconds", "Duration of HTTP client requests.");
	for (i = 0; i < s->nr_clients; i++) {
		lt = client_labels(e, s, &s->clients[i]);
		put_histogram(e, CLIENT_DURATION, &lt, h, &s->clients[i].stats);
	}
}

/* http.client.request.body.size / response.body.size: where the size was known. */
static void put_client_sizes(struct expo *e, const struct oa_snapshot *s, bool response)
{
	const char *name = response ? CLIENT_RESP_BODY : CLIENT_REQ_BODY;
	struct label_text lt;
	size_t i;

	put_family(e, name, "histogram", "bytes",
		   response ? "Size of HTTP client response bodies."
			    : "Size of HTTP client request bodies.");
	for (i = 0; i < s->nr_clients; i++) {
		const struct size_hist *h = body_size(&s->clients[i].stats, response);

		if (!h->count)
			continue;
		lt = client_labels(e, s, &s->clients[i]);
		put_size_histogram(e, name, &lt, s, h);
	}
}

int render_otel_as(const struct oa_snapshot *s, enum oa_format fmt, FILE *out)
{
	const struct oa_series **v = NULL;
	struct run_labels rl = { 0 };
	struct hist_layout h;
	struct expo e;
	size_t i, nr_regular;
	int err;

	err = layout_init(&h, s, out, fmt, buckets_otel.bounds, buckets_otel.nr);
	if (err)
		return err;
	/* the client series, which only this endpoint writes, before anything is written */
	if (s->nr_clients && !s->clients)
		return -EINVAL;
	err = sort_series(s, &v, &nr_regular);
	if (err)
		return err;
	err = run_labels_init(&rl, nr_regular);
	if (err)
		goto cleanup;
	err = expo_init(&e, fmt, out);
	if (err)
		goto cleanup;
	for (i = 0; i < s->nr_size_bounds && i < OA_MAX_SIZE_BOUNDS; i++)
		le_init(&e.size_le[i], fmt, s->size_bounds[i]);

	/* OpenMetrics wants the target family first. */
	put_target_info(&e, s);
	put_durations(&e, s, v, nr_regular, &h, &rl);
	/* opt-in, as in the semantic conventions: each is two more histograms per series */
	if (s->body_sizes) {
		put_body_sizes(&e, s, v, nr_regular, &rl, false);
		put_body_sizes(&e, s, v, nr_regular, &rl, true);
	}
	put_active(&e, s);
	put_client_durations(&e, s, &h);
	if (s->body_sizes) {
		put_client_sizes(&e, s, false);
		put_client_sizes(&e, s, true);
	}
	put_self_metrics(&e, s);
	err = expo_finish(&e);
cleanup:
	run_labels_free(&rl);
	free(v);
	return err;
}
