/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unit tests for src/targets/resource.c: OTEL_RESOURCE_ATTRIBUTES parsing,
 * service.instance.id (UUID v5), and the resources of a live process (this
 * one) with the cache that keeps them while the process is a target.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "targets/resource.h"

static void test_resource_attrs_parse(void **state)
{
	char out[OA_RESOURCE_ATTRS_LEN], many[4096], small[24];
	size_t o = 0;
	int i;

	(void)state;
	assert_int_equal(resource_attrs_parse("", out, sizeof(out)), 0);
	assert_int_equal(out[0], '\0');
	assert_int_equal(resource_attrs_parse("k=v", out, sizeof(out)), 1);
	assert_memory_equal(out, "k\0v\0", 5);

	/* percent escapes in keys and values; blanks around pairs, keys and values */
	assert_int_equal(
		resource_attrs_parse(" a%3Db = x%2Cy%25 , c= d e ,e=%C3%A9", out, sizeof(out)), 3);
	assert_string_equal(resource_attr(out, "a=b"), "x,y%");
	assert_string_equal(resource_attr(out, "c"), "d e");
	assert_string_equal(resource_attr(out, "e"), "\xc3\xa9");
	assert_null(resource_attr(out, "a"));

	/* bad pairs are left out, the rest kept */
	assert_int_equal(resource_attrs_parse("noeq,=v,%zz=1,k1=%4,k2=%g0,k3=%00,k4=ok,,k5=", out,
					      sizeof(out)),
			 2);
	assert_string_equal(resource_attr(out, "k4"), "ok");
	assert_string_equal(resource_attr(out, "k5"), "");
	assert_null(resource_attr(out, "k1"));
	assert_null(resource_attr(out, "k2"));
	assert_null(resource_attr(out, "k3"));
	assert_null(resource_attr(out, "noeq"));

	/* a key given twice keeps its last value; '=' in a value may be left unescaped */
	assert_int_equal(resource_attrs_parse("k=1,j=2,k=3=4", out, sizeof(out)), 2);
	assert_string_equal(resource_attr(out, "k"), "3=4");
	assert_string_equal(resource_attr(out, "j"), "2");

	/* at most OA_RESOURCE_MAX_ATTRS attributes */
	for (i = 0; i < OA_RESOURCE_MAX_ATTRS + 5; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "k%d=v,", i);
	assert_int_equal(resource_attrs_parse(many, out, sizeof(out)), OA_RESOURCE_MAX_ATTRS);
	assert_non_null(resource_attr(out, "k0"));
	assert_null(resource_attr(out, "k32"));

	/* what does not fit is left out, smaller pairs after it still fit */
	assert_int_equal(
		resource_attrs_parse("a=1,long=0123456789012345,b=2", small, sizeof(small)), 2);
	assert_string_equal(resource_attr(small, "a"), "1");
	assert_string_equal(resource_attr(small, "b"), "2");
	assert_null(resource_attr(small, "long"));
}

static void test_instance_id(void **state)
{
	char id[OA_UUID_LEN];

	(void)state;
	/* UUID v5 in the semantic conventions' namespace, as Python's uuid.uuid5 computes it */
	resource_instance_id("0b7c8b1e-5b1e-4f4e-9a65-2f0d8d1e3c11", 1234, 5678, id);
	assert_string_equal(id, "d6e24f2b-156e-545a-a46d-88386e8ca409");
	resource_instance_id("0b7c8b1e-5b1e-4f4e-9a65-2f0d8d1e3c11", 1234, 5679, id);
	assert_string_equal(id, "ab591d48-34bb-565b-a891-bc08c4f60c54");
	resource_instance_id("x", 1, 2, id);
	assert_string_equal(id, "c470097c-2f14-58d7-bada-34e2479703cb");
	/* 55 and 56 bytes hashed: the two sides of SHA-1's one-block padding */
	resource_instance_id("abcdefghijklmnopqrstuvwxyz012345678", 1, 2, id);
	assert_string_equal(id, "b50ad765-f511-5cfc-928d-c07cef4a7a2f");
	resource_instance_id("abcdefghijklmnopqrstuvwxyz0123456789", 1, 2, id);
	assert_string_equal(id, "db7147d5-13c0-5fc1-b3fb-7ac7444a89ad");
}

/* This test process as a target: what /proc and the environments give. */
static void test_target_resource_self(void **state)
{
	struct oa_target t[2] = { { (__u32)getpid(), "" }, { (__u32)getppid(), "" } };
	struct oa_snapshot snap = { .targets = t, .nr_targets = 2 };
	struct resource_cache cache;
	const struct oa_resource *rs;
	struct oa_resource r;
	char id[OA_UUID_LEN];

	(void)state;
	resource_cache_init(&cache);
	unsetenv("OTEL_SERVICE_NAME");
	setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,process.pid=1,team=x", 1);
	assert_int_equal(resource_read(&cache, getpid(), &r), 0);
	assert_int_equal(r.pid, getpid());
	assert_string_equal(r.service_name, "from-attrs");
	assert_string_equal(r.executable_name, "test_resource");
	assert_string_equal(r.command, "test_resource");
	assert_true(r.start_ticks > 0);
	assert_int_equal(strlen(r.instance_id), 36);
	assert_int_equal(r.instance_id[14], '5');
	/* service.name and process.pid are not left among the other attributes */
	assert_string_equal(resource_attr(r.attrs, "team"), "x");
	assert_null(resource_attr(r.attrs, "service.name"));
	assert_null(resource_attr(r.attrs, "process.pid"));

	/* OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES */
	setenv("OTEL_SERVICE_NAME", "svc", 1);
	assert_int_equal(resource_read(&cache, getpid(), &r), 0);
	assert_string_equal(r.service_name, "svc");

	/* the same process keeps its id; another one has another */
	resources_read(&cache, &snap);
	rs = snap.resources;
	assert_non_null(rs);
	assert_int_equal(rs[0].pid, getpid());
	assert_int_equal(rs[1].pid, getppid());
	assert_string_equal(rs[0].instance_id, r.instance_id);
	assert_string_not_equal(rs[1].instance_id, r.instance_id);
	/* the targets' service names are the resources' */
	assert_string_equal(t[0].service_name, "svc");
	assert_string_equal(t[1].service_name, rs[1].service_name);
	snprintf(id, sizeof(id), "%s", rs[1].instance_id);

	/* what was read of a process is kept while it stays a target: its service name too */
	unsetenv("OTEL_SERVICE_NAME");
	unsetenv("OTEL_RESOURCE_ATTRIBUTES");
	resources_read(&cache, &snap);
	assert_string_equal(snap.resources[0].service_name, "svc");
	assert_string_equal(t[0].service_name, "svc");
	/* one that is no longer a target is forgotten, and read again if it comes back */
	snap.targets = &t[1];
	snap.nr_targets = 1;
	resources_read(&cache, &snap);
	rs = snap.resources;
	assert_non_null(rs);
	assert_string_equal(rs[0].instance_id, id);
	snap.targets = t;
	snap.nr_targets = 2;
	resources_read(&cache, &snap);
	assert_string_equal(snap.resources[0].service_name, "test_resource");
	assert_string_equal(snap.resources[0].instance_id, r.instance_id);
	assert_string_equal(t[0].service_name, "test_resource");
	snap.nr_targets = 0;
	resources_read(&cache, &snap);
	assert_null(snap.resources);

	/* a process that is gone: -ENOENT, and no id */
	assert_int_equal(resource_read(&cache, 0x7ffffff0, &r), -ENOENT);
	assert_string_equal(r.instance_id, "");
	resource_cache_free(&cache);
	resource_cache_free(&cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resource_attrs_parse),
		cmocka_unit_test(test_instance_id),
		cmocka_unit_test(test_target_resource_self),
	};

	return cmocka_run_group_tests_name("resource", tests, NULL, NULL);
}
