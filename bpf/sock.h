/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock.h: socket-level load balancing. cgroup/connect, sendmsg, recvmsg and
 * getpeername hooks translate a service address to a backend when the
 * application names it, so in-cluster traffic needs no per-packet NAT, and
 * translate the backend back to the service address whenever the kernel
 * reports a peer to the application.
 */
#ifndef SKIFF_SOCK_H
#define SKIFF_SOCK_H

#include "skiff.h"

/* The hooks' verdicts. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

/* Results of sock_select. */
#define SOCK_PASS 0       /* not a service address */
#define SOCK_XLATED 1     /* translated to a backend */
#define SOCK_NO_BACKEND 2 /* a service without a usable backend */

struct sock_target {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u32 svc_id;
};

/* sock_select picks a backend for a connection or datagram to addr:port. */
static __always_inline int sock_select(struct bpf_sock_addr *ctx, __be32 addr, __be16 port, __u8 proto,
				       struct sock_target *out)
{
	struct svc_value *svc = lookup_frontend(addr, port, proto);
	struct affinity_key akey = {};
	struct backend *be;
	__u32 svc_id, timeout, backend_id = 0;
	__be32 key_addr;
	__u16 count, slot;

	if (!svc)
		return SOCK_PASS;
	svc_id = svc->id;
	count = svc->count;
	timeout = svc->affinity_timeout;
	key_addr = (svc->flags & SVC_F_NODEPORT) ? 0 : addr;
	if (count == 0) {
		count_drop(DROP_NO_BACKEND);
		return SOCK_NO_BACKEND;
	}
	if (timeout) {
		akey.client = bpf_get_netns_cookie(ctx);
		akey.svc_id = svc_id;
		akey.netns = 1;
		backend_id = affinity_get(&akey, timeout);
	}
	if (!backend_id) {
		slot = (bpf_get_prandom_u32() % count) + 1;
		backend_id = slot_backend(key_addr, port, proto, slot);
	}
	be = backend_id ? bpf_map_lookup_elem(&backends, &backend_id) : NULL;
	if (!be) {
		/* A sync shrank the service between our lookups: look again. */
		svc = lookup_frontend(addr, port, proto);
		count = svc ? svc->count : 0;
		if (count == 0) {
			count_drop(DROP_NO_BACKEND);
			return SOCK_NO_BACKEND;
		}
		slot = (bpf_get_prandom_u32() % count) + 1;
		backend_id = slot_backend(key_addr, port, proto, slot);
		be = backend_id ? bpf_map_lookup_elem(&backends, &backend_id) : NULL;
		if (!be) {
			count_drop(DROP_BACKEND_GONE);
			return SOCK_NO_BACKEND;
		}
	}
	if (timeout)
		affinity_put(&akey, backend_id);
	out->addr = be->addr;
	out->port = be->port;
	out->svc_id = svc_id;
	return SOCK_XLATED;
}

/* sock_remember records the translation so replies and getpeername can
 * show the service address. */
static __always_inline void sock_remember(struct bpf_sock_addr *ctx, struct sock_target *t, __be32 addr,
					  __be16 port)
{
	struct sock_key key = { .cookie = bpf_get_socket_cookie(ctx), .addr = t->addr, .port = t->port };
	struct sock_rev rev = {
		.addr = addr,
		.port = port,
		.svc_id = t->svc_id,
		.pid = bpf_get_current_pid_tgid() >> 32,
	};

	bpf_map_update_elem(&sock_revnat, &key, &rev, BPF_ANY);
}

/* sock_reverse maps a backend address seen by the socket back to the
 * service address; it returns NULL when the peer is not a backend this
 * socket was translated to. */
static __always_inline struct sock_rev *sock_reverse(struct bpf_sock_addr *ctx, __be32 addr, __be16 port)
{
	struct sock_key key = { .cookie = bpf_get_socket_cookie(ctx), .addr = addr, .port = port };

	return bpf_map_lookup_elem(&sock_revnat, &key);
}

static __always_inline int sock_proto_ok(struct bpf_sock_addr *ctx)
{
	return ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_UDP;
}

/* sock_forward is connect and sendmsg: the v4 address is in *addr (a copy
 * of user_ip4, or of the last word of a v4-mapped user_ip6). It returns the
 * verdict and sets *addr and *port when translated. */
static __always_inline int sock_forward(struct bpf_sock_addr *ctx, __be32 *addr, __be16 *port, __u32 conns)
{
	struct sock_target t = {};
	int ret;

	if (!sock_proto_ok(ctx))
		return SYS_PROCEED;
	ret = sock_select(ctx, *addr, *port, ctx->protocol, &t);
	if (ret == SOCK_PASS)
		return SYS_PROCEED;
	if (ret == SOCK_NO_BACKEND) {
		bpf_set_retval(-ECONNREFUSED);
		return SYS_REJECT;
	}
	sock_remember(ctx, &t, *addr, *port);
	count_svc(t.svc_id, conns, 1 - conns, 0);
	*addr = t.addr;
	*port = t.port;
	return SYS_PROCEED;
}

static __always_inline int is_v4_mapped(struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == bpf_htonl(0x0000ffff);
}

/* sock_bind_allowed refuses a bind to a NodePort from outside the node's
 * own network namespace: a pod must not take over a node port. */
static __always_inline int sock_bind_allowed(struct bpf_sock_addr *ctx, __be16 port)
{
	struct svc_key key = { .port = port };
	struct svc_value *svc;

	if (!sock_proto_ok(ctx) || port == 0)
		return SYS_PROCEED;
	if (bpf_get_netns_cookie(ctx) == host_netns_cookie)
		return SYS_PROCEED;
	key.proto = ctx->protocol;
	svc = bpf_map_lookup_elem(&services, &key);
	if (svc && (svc->flags & SVC_F_NODEPORT)) {
		bpf_set_retval(-EADDRINUSE);
		return SYS_REJECT;
	}
	return SYS_PROCEED;
}

SEC("cgroup/connect4")
int sock4_connect(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	int ret = sock_forward(ctx, &addr, &port, 1);

	ctx->user_ip4 = addr;
	ctx->user_port = (__u32)port;
	return ret;
}

SEC("cgroup/sendmsg4")
int sock4_sendmsg(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	int ret = sock_forward(ctx, &addr, &port, 0);

	ctx->user_ip4 = addr;
	ctx->user_port = (__u32)port;
	return ret;
}

/* sock4_peer serves recvmsg4 and getpeername4. */
static __always_inline int sock4_peer(struct bpf_sock_addr *ctx)
{
	struct sock_rev *rev = sock_reverse(ctx, ctx->user_ip4, (__be16)ctx->user_port);

	if (rev) {
		ctx->user_ip4 = rev->addr;
		ctx->user_port = (__u32)rev->port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg4")
int sock4_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock4_peer(ctx);
}

SEC("cgroup/getpeername4")
int sock4_getpeername(struct bpf_sock_addr *ctx)
{
	return sock4_peer(ctx);
}

SEC("cgroup/bind4")
int sock4_bind(struct bpf_sock_addr *ctx)
{
	return sock_bind_allowed(ctx, (__be16)ctx->user_port);
}

/* The v6 twins handle IPv4 services reached through dual-stack sockets,
 * which name them as v4-mapped addresses (::ffff:a.b.c.d). */

static __always_inline int sock6_forward(struct bpf_sock_addr *ctx, __u32 conns)
{
	__be32 addr;
	__be16 port;
	int ret;

	if (!is_v4_mapped(ctx))
		return SYS_PROCEED;
	addr = ctx->user_ip6[3];
	port = (__be16)ctx->user_port;
	ret = sock_forward(ctx, &addr, &port, conns);
	ctx->user_ip6[3] = addr;
	ctx->user_port = (__u32)port;
	return ret;
}

SEC("cgroup/connect6")
int sock6_connect(struct bpf_sock_addr *ctx)
{
	return sock6_forward(ctx, 1);
}

SEC("cgroup/sendmsg6")
int sock6_sendmsg(struct bpf_sock_addr *ctx)
{
	return sock6_forward(ctx, 0);
}

static __always_inline int sock6_peer(struct bpf_sock_addr *ctx)
{
	struct sock_rev *rev;

	if (!is_v4_mapped(ctx))
		return SYS_PROCEED;
	rev = sock_reverse(ctx, ctx->user_ip6[3], (__be16)ctx->user_port);
	if (rev) {
		ctx->user_ip6[3] = rev->addr;
		ctx->user_port = (__u32)rev->port;
	}
	return SYS_PROCEED;
}

SEC("cgroup/recvmsg6")
int sock6_recvmsg(struct bpf_sock_addr *ctx)
{
	return sock6_peer(ctx);
}

SEC("cgroup/getpeername6")
int sock6_getpeername(struct bpf_sock_addr *ctx)
{
	return sock6_peer(ctx);
}

SEC("cgroup/bind6")
int sock6_bind(struct bpf_sock_addr *ctx)
{
	/* A v6 wildcard bind also takes the v4 port on a dual-stack socket. */
	return sock_bind_allowed(ctx, (__be16)ctx->user_port);
}

#endif /* SKIFF_SOCK_H */
