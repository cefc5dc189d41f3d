// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Owns label sets (labels.h): gathering them, and writing them escaped in place. */
#include <string.h>

#include "expose/labels.h"
#include "metrics/series.h"

static const char *const method_names[OA_METHOD_COUNT] = {
	[OA_METHOD_OTHER] = "_OTHER",	 [OA_METHOD_GET] = "GET",
	[OA_METHOD_HEAD] = "HEAD",	 [OA_METHOD_POST] = "POST",
	[OA_METHOD_PUT] = "PUT",	 [OA_METHOD_DELETE] = "DELETE",
	[OA_METHOD_CONNECT] = "CONNECT", [OA_METHOD_OPTIONS] = "OPTIONS",
	[OA_METHOD_TRACE] = "TRACE",	 [OA_METHOD_PATCH] = "PATCH",
};

static const char *const conn_error_names[OA_CONN_ERROR_COUNT] = {
	[OA_CONN_OK] = "",
	[OA_CONN_CLOSED] = "connection_closed",
	[OA_CONN_RESET] = "connection_reset",
};

void label_n(struct labels *ls, const char *name, const char *value, size_t len)
{
	if (ls->n == MAX_LABELS)
		return;
	ls->name[ls->n] = name;
	ls->value[ls->n] = value ? value : "";
	ls->len[ls->n] = value ? len : 0;
	ls->n++;
}

void label(struct labels *ls, const char *name, const char *value)
{
	label_n(ls, name, value, value ? strlen(value) : 0);
}

void overflow_labels(struct labels *ls)
{
	ls->n = 0;
	label(ls, "otel_metric_overflow", "true");
}

const char *method_name(__u8 m)
{
	return method_names[series_method(m)];
}

const char *conn_error_name(__u8 e)
{
	return conn_error_names[e < OA_CONN_ERROR_COUNT ? e : OA_CONN_CLOSED];
}

/* Written in place, not field by field: a scrape builds thousands. */
void text_labels(struct text *t, const struct labels *ls)
{
	size_t name_len[MAX_LABELS], room = 0;
	unsigned int i;
	char *p;

	for (i = 0; i < ls->n; i++) {
		name_len[i] = strlen(ls->name[i]);
		room += name_len[i] + ESCAPED_MAX(ls->len[i]) + 4; /* ,name="" */
	}
	p = text_reserve(t, room);
	if (!p)
		return;
	for (i = 0; i < ls->n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, ls->name[i], name_len[i]);
		p += name_len[i];
		*p++ = '=';
		*p++ = '"';
		p = escape_to(p, ls->value[i], ls->len[i]);
		*p++ = '"';
	}
	text_commit(t, p);
}

const char *number_value(char *out, __u64 v)
{
	*u64_text(out, v) = '\0';
	return out;
}
