/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fd -> struct file -> struct socket resolution through the current task's
 * fd table, with CO-RE reads. Used to tell a TCP socket from a file or pipe
 * for connections the agent did not see being accepted, and to find the
 * local port of a freshly accepted connection (--port).
 */
#ifndef SOCK_BPF_H
#define SOCK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define OA_S_IFMT      00170000
#define OA_S_IFSOCK    0140000
#define OA_AF_INET     2
#define OA_AF_INET6    10
#define OA_SOCK_STREAM 1
#define OA_IPPROTO_TCP 6

static __always_inline struct file *fd_to_file(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	unsigned int max_fds;

	if (!fdt || fd < 0)
		return NULL;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* The struct sock behind fd of the current process when it is TCP over IPv4 or IPv6, else NULL. */
static __always_inline struct sock *fd_to_tcp_sock(int fd)
{
	struct file *file = fd_to_file(fd);
	struct socket *sock;
	struct sock *sk;
	umode_t mode;
	__u16 family, type, proto;

	if (!file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & OA_S_IFMT) != OA_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	type = BPF_CORE_READ(sk, sk_type);
	proto = BPF_CORE_READ(sk, sk_protocol);
	if ((family != OA_AF_INET && family != OA_AF_INET6) || type != OA_SOCK_STREAM ||
	    proto != OA_IPPROTO_TCP)
		return NULL;
	return sk;
}

/* True when fd of the current process is a TCP socket over IPv4 or IPv6. */
static __always_inline bool fd_is_tcp_socket(int fd)
{
	return fd_to_tcp_sock(fd) != NULL;
}

/*
 * Local port (host order) of fd of the current process when it is a TCP
 * socket; 0 otherwise. For an accepted connection it is the port the
 * listening socket serves.
 */
static __always_inline __u16 fd_tcp_local_port(int fd)
{
	struct sock *sk = fd_to_tcp_sock(fd);

	if (!sk)
		return 0;
	return BPF_CORE_READ(sk, __sk_common.skc_num);
}

/*
 * The peer of fd when it is a TCP socket: family (4 or 6), address and port
 * (host order), for a connection the agent did not see being connected.
 * False otherwise.
 */
static __always_inline bool fd_tcp_peer(int fd, __u8 *family, __u8 addr[16], __u16 *port)
{
	struct sock *sk = fd_to_tcp_sock(fd);

	if (!sk)
		return false;
	*port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == OA_AF_INET) {
		__be32 a4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		*family = 4;
		__builtin_memcpy(addr, &a4, 4);
	} else {
		*family = 6;
		BPF_CORE_READ_INTO(addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return true;
}

#endif /* SOCK_BPF_H */
