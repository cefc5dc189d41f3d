// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Target selection at start (src/targets/discover.c): the /proc/net/tcp and
 * fd link parsers, --comm matching and the descendant walk, on strings and
 * tables. The stat parser they share is tested in test_proc.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "targets/discover.h"

static void test_net_tcp(void **state)
{
	unsigned short port = 0;
	unsigned int st = 0;
	unsigned long inode = 0;

	(void)state;
	/* header lines */
	assert_int_equal(
		proc_net_tcp_parse("  sl  local_address rem_address   st tx_queue rx_queue "
				   "tr tm->when retrnsmt   uid  timeout inode",
				   &port, &st, &inode),
		-EINVAL);
	assert_int_equal(proc_net_tcp_parse("  sl  local_address                         "
					    "remote_address                        st tx_queue "
					    "rx_queue tr tm->when retrnsmt   uid  timeout inode",
					    &port, &st, &inode),
			 -EINVAL);

	/* IPv4 LISTEN on 127.0.0.1:43447 */
	assert_int_equal(
		proc_net_tcp_parse("   0: 0100007F:A9B7 00000000:0000 0A 00000000:00000000 "
				   "00:00000000 00000000     0        0 41449 1 "
				   "00000000238b8799 100 0 0 10 0",
				   &port, &st, &inode),
		0);
	assert_int_equal(port, 43447);
	assert_int_equal(st, 0x0A);
	assert_int_equal(inode, 41449);

	/* IPv6 LISTEN on [::1]:8080, a large slot number */
	assert_int_equal(proc_net_tcp_parse("  12: 00000000000000000000000001000000:1F90 "
					    "00000000000000000000000000000000:0000 0A "
					    "00000000:00000000 00:00000000 00000000  1000        0 "
					    "987654321 1 0000000000000000 100 0 0 10 0",
					    &port, &st, &inode),
			 0);
	assert_int_equal(port, 8080);
	assert_int_equal(st, 0x0A);
	assert_int_equal(inode, 987654321);

	/* ESTABLISHED (01), TIME_WAIT (06) with inode 0 */
	assert_int_equal(
		proc_net_tcp_parse("   3: 0100007F:2328 0100007F:D431 01 00000000:00000000 "
				   "00:00000000 00000000     0        0 5555 1",
				   &port, &st, &inode),
		0);
	assert_int_equal(port, 9000);
	assert_int_equal(st, 0x01);
	assert_int_equal(
		proc_net_tcp_parse("   4: 0100007F:2328 0100007F:D432 06 00000000:00000000 "
				   "03:00001770 00000000     0        0 0 3",
				   &port, &st, &inode),
		0);
	assert_int_equal(st, 0x06);
	assert_int_equal(inode, 0);

	/* malformed */
	assert_int_equal(proc_net_tcp_parse("", &port, &st, &inode), -EINVAL);
	assert_int_equal(proc_net_tcp_parse("   0: 0100007F 00000000:0000 0A 00000000:00000000 "
					    "00:00000000 00000000 0 0 41449",
					    &port, &st, &inode),
			 -EINVAL);
	assert_int_equal(proc_net_tcp_parse("   0: 0100007F:1FFFF 00000000:0000 0A "
					    "00000000:00000000 00:00000000 00000000 0 0 41449",
					    &port, &st, &inode),
			 -EINVAL);
	assert_int_equal(
		proc_net_tcp_parse("   0: 0100007F:1F90 00000000:0000 0A", &port, &st, &inode),
		-EINVAL);
}

static void test_socket_link(void **state)
{
	unsigned long inode = 0;

	(void)state;
	assert_int_equal(socket_link_inode("socket:[12345]", &inode), 0);
	assert_int_equal(inode, 12345);
	assert_int_equal(socket_link_inode("socket:[0]", &inode), 0);
	assert_int_equal(inode, 0);
	assert_int_equal(socket_link_inode("pipe:[12345]", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("anon_inode:[eventpoll]", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("/dev/null", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("socket:[]", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("socket:[12a]", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("socket:[12]x", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("socket:[-1]", &inode), -EINVAL);
	assert_int_equal(socket_link_inode("socket:[12", &inode), -EINVAL);
}

static void test_comm(void **state)
{
	(void)state;
	assert_true(comm_matches("core", "core"));
	assert_false(comm_matches("core", "cor"));
	assert_false(comm_matches("cor", "core"));
	assert_false(comm_matches("node", "nodejs"));
	assert_false(comm_matches("Core", "core"));
	/* the kernel keeps 15 characters: a longer name matches on those */
	assert_true(comm_matches("metasheet-core-", "metasheet-core-server"));
	assert_true(comm_matches("exactly15chars!", "exactly15chars!"));
	assert_false(comm_matches("metasheet-core-", "metasheet-core"));
}

/*
 *   1 ─┬─ 10 ─┬─ 11 ─── 13
 *      │      └─ 12
 *      ├─ 20 ─── 21
 *      └─ 30
 */
static const struct proc_info table[] = {
	{ 1, 0, "init" },  { 12, 10, "w2" }, { 20, 1, "other" }, { 13, 11, "grandkid" },
	{ 10, 1, "node" }, { 11, 10, "w1" }, { 21, 20, "x" },	 { 30, 1, "y" },
};

static void test_descendants(void **state)
{
	size_t n = sizeof(table) / sizeof(table[0]);
	pid_t out[16];

	(void)state;
	/* breadth first: children in table order, then grandchildren */
	assert_int_equal(proc_descendants(table, n, 10, out, 16), 3);
	assert_int_equal(out[0], 12);
	assert_int_equal(out[1], 11);
	assert_int_equal(out[2], 13);

	assert_int_equal(proc_descendants(table, n, 11, out, 16), 1);
	assert_int_equal(out[0], 13);
	assert_int_equal(proc_descendants(table, n, 13, out, 16), 0);
	assert_int_equal(proc_descendants(table, n, 999, out, 16), 0);
	assert_int_equal(proc_descendants(table, n, 1, out, 16), 7);

	/* the total is returned even when out holds fewer */
	memset(out, 0, sizeof(out));
	assert_int_equal(proc_descendants(table, n, 10, out, 1), 3);
	assert_int_equal(out[0], 12);
	assert_int_equal(out[1], 0);
	assert_int_equal(proc_descendants(table, 0, 10, out, 16), 0);
}

static void test_descendants_loop(void **state)
{
	/* a parent link back to the root (pid reuse seen mid-scan) does not loop */
	static const struct proc_info loop[] = { { 5, 6, "a" }, { 6, 5, "b" }, { 7, 6, "c" } };
	pid_t out[4];

	(void)state;
	assert_int_equal(proc_descendants(loop, 3, 5, out, 4), 2);
	assert_int_equal(out[0], 6);
	assert_int_equal(out[1], 7);
}

static void test_describe(void **state)
{
	struct match m = { .pid = 42, .kind = MATCH_PORT, .port = 8900, .comm = "node" };
	char buf[128];

	(void)state;
	match_describe(&m, buf, sizeof(buf));
	assert_string_equal(buf, "pid 42 (node) matches --port 8900");
	m.kind = MATCH_COMM;
	m.selector = "core";
	match_describe(&m, buf, sizeof(buf));
	assert_string_equal(buf, "pid 42 (node) matches --comm core");
	m.kind = MATCH_EXE;
	m.selector = "/usr/bin/node";
	match_describe(&m, buf, sizeof(buf));
	assert_string_equal(buf, "pid 42 (node) matches --exe /usr/bin/node");
	m.kind = MATCH_DESCENDANT;
	m.ancestor = 7;
	match_describe(&m, buf, sizeof(buf));
	assert_string_equal(buf, "pid 42 (node) is a descendant of pid 7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_tcp),
		cmocka_unit_test(test_socket_link),
		cmocka_unit_test(test_comm),
		cmocka_unit_test(test_descendants),
		cmocka_unit_test(test_descendants_loop),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests_name("discover", tests, NULL, NULL);
}
