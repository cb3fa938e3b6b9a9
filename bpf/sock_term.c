/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_term.c: destroys the connected UDP sockets that socket-LB pointed at
 * a backend that is gone, so that their owners notice (ECONNABORTED) and
 * open new ones. An iter/udp program walks the UDP sockets of the network
 * namespace the iterator is read from, and bpf_sock_destroy (Linux 6.5)
 * aborts those whose peer is a removed backend and whose translation
 * socket-LB recorded in sock_revnat. Each destroyed socket's cookie is
 * written to the iterator's output.
 *
 * A separate object from skiff.c: on a kernel without the kfunc only this
 * fails to load, and the Go side falls back to netlink SOCK_DESTROY. Its
 * sock_revnat is replaced with the main object's map at load time.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The kernel's types, reduced to the fields used; CO-RE relocates them. */
struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct udp_sock;
struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* As in skiff.h. */
struct sock_key {
	__u64 cookie;
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct sock_rev {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u32 svc_id;
	__u32 pid;
};

struct backend_addr {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct sock_key);
	__type(value, struct sock_rev);
} sock_revnat SEC(".maps");

/* removed_backends: the UDP backends whose sockets go, set before a run. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct backend_addr);
	__type(value, __u8);
} removed_backends SEC(".maps");

SEC("iter/udp")
int sock_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	struct backend_addr be = {};
	struct sock_key key = {};
	__u64 cookie;

	if (!sk)
		return 0;
	be.addr = sk->__sk_common.skc_daddr;
	be.port = sk->__sk_common.skc_dport;
	if (!bpf_map_lookup_elem(&removed_backends, &be))
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	key.cookie = cookie;
	key.addr = be.addr;
	key.port = be.port;
	if (!bpf_map_lookup_elem(&sock_revnat, &key))
		return 0; /* not a socket the service translated */
	if (bpf_sock_destroy((struct sock_common *)sk) == 0)
		bpf_seq_write(ctx->meta->seq, &cookie, sizeof(cookie));
	return 0;
}

char __license[] SEC("license") = "Dual BSD/GPL";
