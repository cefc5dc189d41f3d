// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Loads one set of floor.bpf.c's programs for pid and holds them until
 * SIGTERM. Usage: floor tp|raw_tp|tp_btf PID. Prints "ready" once attached.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct floor_bpf *skel;
	struct bpf_program *p;
	size_t len;

	if (argc != 3) {
		fprintf(stderr, "usage: floor tp|raw_tp|tp_btf PID\n");
		return 2;
	}
	len = strlen(argv[1]);
	skel = floor_bpf__open();
	if (!skel)
		return 1;
	skel->rodata->pid = (__u32)atoi(argv[2]);
	bpf_object__for_each_program(p, skel->obj)
	{
		const char *sec = bpf_program__section_name(p);

		bpf_program__set_autoload(p, !strncmp(sec, argv[1], len) && sec[len] == '/');
	}
	if (floor_bpf__load(skel) || floor_bpf__attach(skel)) {
		fprintf(stderr, "floor: cannot load or attach the %s programs\n", argv[1]);
		floor_bpf__destroy(skel);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	floor_bpf__destroy(skel);
	return 0;
}
