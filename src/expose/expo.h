/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Owns the exposition writer: family metadata, samples and histograms as
 * lines of Prometheus text 0.0.4 or OpenMetrics 1.0.0, through one
 * buffered output. The endpoints (otel.c, plugin.c) say what to write.
 */
#ifndef OA_EXPOSE_EXPO_H
#define OA_EXPOSE_EXPO_H

#include <stdio.h>

#include "expose/labels.h"
#include "expose/layout.h"
#include "expose/text_out.h"
#include "metrics/series.h"

/* Where and how one exposition is written. */
struct expo {
	struct out_buf out;
	enum oa_format fmt;
	struct text line;   /* scratch: one line, or what a histogram's lines repeat */
	struct text labels; /* scratch: one label set, escaped */
	struct le_text size_le[OA_MAX_SIZE_BOUNDS]; /* the body-size bounds */
};

/* A label set escaped: name="value",... (len 0: no labels). */
struct label_text {
	const char *p;
	size_t len;
};

/* Sets up the writing of an exposition in fmt to out: 0, or -ENOMEM. */
int expo_init(struct expo *e, enum oa_format fmt, FILE *out);
/* Ends the exposition (OpenMetrics' # EOF) and frees e: 0, or -errno of the first error. */
int expo_finish(struct expo *e);
/* A text that could not be built (t->err) fails the exposition: never a line cut short. */
void expo_text_err(struct expo *e, const struct text *t);
/* Writes out the lines built in e->line. */
void put_text(struct expo *e);

/*
 * The metadata of a family. name is the sample name of a counter
 * (x_total) or an info (x_info); OpenMetrics names those families without
 * the suffix. Prometheus text has no info type (a gauge) and no unit.
 */
void put_family(struct expo *e, const char *name, const char *type, const char *unit,
		const char *help);
/* A sample that is not part of a histogram: name{labels} value. */
void put_sample(struct expo *e, const char *name, const struct labels *ls, const char *value);
void put_u64(struct expo *e, const char *name, const struct labels *ls, __u64 v);

/* ls escaped into e->labels: valid until the next call. */
struct label_text escape_labels(struct expo *e, const struct labels *ls);

/* A duration histogram: the buckets of h summed out of the kernel's, cumulative. */
void put_histogram(struct expo *e, const char *name, const struct label_text *lt,
		   const struct hist_layout *h, const struct http_stats *v);
/* A body-size histogram: the kernel's size buckets (le in e->size_le), all exported, cumulative. */
void put_size_histogram(struct expo *e, const char *name, const struct label_text *lt,
			const struct oa_snapshot *s, const struct size_hist *h);

#endif /* OA_EXPOSE_EXPO_H */
