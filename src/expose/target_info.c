// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Owns target_info (target_info.h): which attributes a target has (the
 * ones the agent finds, and OTEL_RESOURCE_ATTRIBUTES), their keys as label
 * names, and the one sample each target gets.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose/target_info.h"
#include "targets/resource.h"

/* The attributes found for every target, and room for OTEL_RESOURCE_ATTRIBUTES. */
#define NR_DETECTED	 6
#define MAX_TARGET_ATTRS (NR_DETECTED + OA_RESOURCE_MAX_ATTRS)
#define LABEL_NAME_LEN	 128

/* One resource attribute of a target_info sample. */
struct target_attr {
	char name[LABEL_NAME_LEN]; /* the label name */
	const char *key;	   /* the attribute key it comes from */
	const char *value;
};

/*
 * A resource attribute key as a label name: characters other than
 * [a-zA-Z0-9_] become '_', runs of '_' one '_', and a leading digit gets
 * "key_" in front (OpenTelemetry's Prometheus compatibility rules).
 */
static void attr_label_name(char *out, size_t outlen, const char *key)
{
	size_t o = 0;
	const char *p;

	if (*key >= '0' && *key <= '9')
		o = (size_t)snprintf(out, outlen, "key_");
	for (p = key; *p && o + 1 < outlen; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		if (c == '_' && o && out[o - 1] == '_')
			continue;
		out[o++] = c;
	}
	out[o] = '\0';
}

static int cmp_target_attr(const void *pa, const void *pb)
{
	const struct target_attr *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	return c ? c : strcmp(a->key, b->key);
}

/*
 * The attributes of one target: the ones the agent finds, overridden or
 * extended by OTEL_RESOURCE_ATTRIBUTES (never process.pid), sorted by label
 * name. Returns how many.
 */
static size_t target_attrs(const struct oa_snapshot *s, size_t i, const char *pid,
			   struct target_attr *a)
{
	const struct oa_resource *r = s->resources ? &s->resources[i] : NULL;
	const char *k, *v;
	size_t n = 0, j;

	a[n].key = "host.name";
	a[n++].value = s->host_name;
	a[n].key = "process.pid";
	a[n++].value = pid;
	a[n].key = "service.name";
	a[n++].value = r ? r->service_name : s->targets[i].service_name;
	if (r) {
		a[n].key = "service.instance.id";
		a[n++].value = r->instance_id;
		a[n].key = "process.executable.name";
		a[n++].value = r->executable_name;
		a[n].key = "process.command";
		a[n++].value = r->command;
		for (k = r->attrs; *k && n < MAX_TARGET_ATTRS; k = v + strlen(v) + 1) {
			v = k + strlen(k) + 1;
			for (j = 0; j < NR_DETECTED && j < n && strcmp(a[j].key, k); j++)
				;
			if (j < NR_DETECTED && j < n) {
				if (strcmp(k, "process.pid"))
					a[j].value = v;
				continue;
			}
			a[n].key = k;
			a[n++].value = v;
		}
	}
	for (j = 0; j < n; j++)
		attr_label_name(a[j].name, sizeof(a[j].name), a[j].key);
	qsort(a, n, sizeof(*a), cmp_target_attr);
	return n;
}

/*
 * Attributes whose label names collide are one label, the values joined by
 * ';' in the order of their keys; empty values are left out (an empty
 * label is no label).
 */
void put_target_info(struct expo *e, const struct oa_snapshot *s)
{
	struct target_attr a[MAX_TARGET_ATTRS];
	struct text *t = &e->line;
	char pid[NUM_LEN];
	size_t i, j, k, n;

	put_family(e, "target_info", "info", NULL, "Target metadata");
	for (i = 0; i < s->nr_targets; i++) {
		const char *sep = "";

		snprintf(pid, sizeof(pid), "%u",
			 s->resources ? (unsigned int)s->resources[i].pid : s->targets[i].pid);
		n = target_attrs(s, i, pid, a);
		t->len = 0;
		text_str(t, "target_info{");
		for (j = 0; j < n; j = k) {
			bool open = false;

			for (k = j; k < n && !strcmp(a[k].name, a[j].name); k++) {
				if (!a[k].value || !a[k].value[0])
					continue;
				if (!open) {
					text_str(t, sep);
					text_str(t, a[j].name);
					text_put(t, "=\"", 2);
				} else {
					text_char(t, ';');
				}
				text_escaped(t, a[k].value, strlen(a[k].value));
				open = true;
				sep = ",";
			}
			if (open)
				text_char(t, '"');
		}
		text_str(t, "} 1\n");
		put_text(e);
	}
}
