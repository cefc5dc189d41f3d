/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns label sets: the labels of one sample gathered, the values some
 * series fields are exported as, and a set written as escaped text.
 */
#ifndef OA_EXPOSE_LABELS_H
#define OA_EXPOSE_LABELS_H

#include <stddef.h>
#include <linux/types.h>

#include "expose/text_out.h"

#define MAX_LABELS 16

/* Labels in the order they are written; the values are not copied. */
struct labels {
	unsigned int n;
	const char *name[MAX_LABELS];
	const char *value[MAX_LABELS];
	size_t len[MAX_LABELS];
};

/* Adds name="value" (value len bytes, NULL for empty); past MAX_LABELS, nothing. */
void label_n(struct labels *ls, const char *name, const char *value, size_t len);
void label(struct labels *ls, const char *name, const char *value);
/* The one label of an overflow series. */
void overflow_labels(struct labels *ls);

/* http_request_method / method: unknown methods are _OTHER. */
const char *method_name(__u8 m);
/* error_type / errorType of a request that ended without a response. */
const char *conn_error_name(__u8 e);

/* A status code or a port as a label value, written into out (U64_LEN + 1 bytes at least). */
const char *number_value(char *out, __u64 v);

/* Appends name="value",... with the values escaped (text_escaped) to t. */
void text_labels(struct text *t, const struct labels *ls);

#endif /* OA_EXPOSE_LABELS_H */
