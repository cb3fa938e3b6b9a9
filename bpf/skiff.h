/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * skiff.h: types, maps and constants shared by every skiff BPF program and
 * mirrored in Go by bpf2go (dataplane/lb). Changing a struct layout here
 * changes the pinned maps: the Go loader then recreates the map and
 * reprograms it from the desired state.
 */
#ifndef SKIFF_H
#define SKIFF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif

/* From linux/icmp.h, which drags in libc headers. */
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;
};

/*
 * Default map sizes. The Go loader overrides them at load time (MaxEntries),
 * so these only matter for tools that load the object directly.
 */
#define SERVICES_MAP_SIZE   262144
#define BACKENDS_MAP_SIZE   262144
#define FRONTENDS_MAP_SIZE  65536
#define CONNTRACK_MAP_SIZE  262144
#define AFFINITY_MAP_SIZE   65536
#define SOCK_REVNAT_SIZE    262144
#define MAGLEV_OUTER_SIZE   16384
#define MAGLEV_TABLE_SIZE   4093
#define NODE_ADDRS_SIZE     256
#define FRAGS_SIZE          8192
#define DROP_REASONS        16

/* svc_value.flags */
#define SVC_F_NODEPORT   (1 << 0) /* frontend is a NodePort (address 0 = node addresses) */
#define SVC_F_EXT_LOCAL  (1 << 1) /* externalTrafficPolicy: Local (informational: SNAT follows backend locality) */
#define SVC_F_INT_LOCAL  (1 << 2) /* internalTrafficPolicy: Local (informational) */
#define SVC_F_MAGLEV     (1 << 3) /* a Maglev table exists for this frontend */

/* backend.flags */
#define BE_F_LOCAL       (1 << 0) /* the endpoint runs on this node */
#define BE_F_ACTIVE      (1 << 1) /* selectable for new connections */
#define BE_F_TERMINATING (1 << 2) /* terminating: keeps existing flows only */

/* ct_key.dir */
#define CT_DIR_ORIGINAL 0 /* client -> frontend, as received */
#define CT_DIR_REPLY    1 /* backend -> client or SNAT address, as received */

/* ct_entry.flags */
#define CT_F_SNAT        (1 << 0) /* source rewritten to snat_addr:snat_port */
#define CT_F_CLOSING     (1 << 1) /* TCP FIN or RST seen */
#define CT_F_SEEN_REPLY  (1 << 2)

/* drop reasons: index into the drops map */
enum drop_reason {
	DROP_NONE = 0,
	DROP_NO_BACKEND = 1,     /* frontend has no usable backend (refused or dropped) */
	DROP_BACKEND_GONE = 2,   /* slot or Maglev entry points at a missing backend */
	DROP_SNAT_EXHAUSTED = 3, /* no free SNAT port */
	DROP_NO_ROUTE = 4,       /* FIB lookup: unreachable, blackhole or prohibited */
	DROP_FIB_FAILED = 5,     /* FIB lookup failed otherwise for a SNATed packet */
	DROP_TTL_EXCEEDED = 6,   /* SNATed packet with TTL <= 1 */
	DROP_CT_FULL = 7,        /* conntrack insert failed */
};

/* services: (address, port, protocol, slot) -> master (slot 0) or backend slot. */
struct svc_key {
	__be32 addr;  /* ClusterIP, or 0 for a NodePort frontend */
	__be16 port;
	__u16 slot;   /* 0 = master entry; 1..count = backend slots */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];
};

struct svc_value {
	__u32 id;               /* slot 0: frontend id; slot n: backend id */
	__u16 count;            /* slot 0: number of backend slots in use */
	__u16 flags;            /* slot 0: SVC_F_* */
	__u32 affinity_timeout; /* slot 0: sessionAffinity ClientIP timeout, seconds; 0 = off */
};

/* backends: backend id -> endpoint. Every backend belongs to one frontend. */
struct backend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 flags;   /* BE_F_* */
	__u32 svc_id; /* owning frontend id */
};

/* rev_nat: frontend id -> frontend address, for socket reverse translation. */
struct frontend {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

/* sock_revnat: (socket cookie, backend address) -> frontend address. */
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
	__u32 pid; /* the process that connected or sent: its netns holds the socket */
};

/* affinity: (client, frontend id) -> backend id. */
struct affinity_key {
	__u64 client; /* netns cookie (socket LB) or IPv4 address (NodePort) */
	__u32 svc_id;
	__u32 netns;  /* 1: client is a netns cookie */
};

struct affinity_value {
	__u64 last_used; /* bpf_ktime_get_ns() */
	__u32 backend_id;
	__u32 pad;
};

/* conntrack: the NodePort flow tuple as seen on the wire. */
struct ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir; /* CT_DIR_* */
	__u16 pad;
};

struct ct_entry {
	__u64 expires; /* bpf_ktime_get_ns() deadline */
	__be32 client_addr;
	__be32 frontend_addr;
	__be32 backend_addr;
	__be32 snat_addr; /* 0 = no SNAT */
	__be16 client_port;
	__be16 frontend_port;
	__be16 backend_port;
	__be16 snat_port;
	__u32 backend_id;
	__u32 svc_id;
	__u16 flags; /* CT_F_* */
	__u8 proto;
	__u8 pad[5];
};

/* frags: the ports of a fragmented datagram, learnt from its first
 * fragment (the only one with the L4 header), for the later fragments. */
struct frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};

struct frag_ports {
	__be16 sport;
	__be16 dport;
};

/* stats: per-CPU counters per frontend id. */
struct svc_stats {
	__u64 connections;
	__u64 packets;
	__u64 bytes;
};

/* node_addrs: this node's addresses that accept NodePort traffic. */
struct node_addr {
	__u32 flags;
};

/*
 * Constants set by the loader before the programs load.
 */
volatile const __u64 host_netns_cookie = 0; /* binds here may use NodePorts */
volatile const __u32 maglev_size = MAGLEV_TABLE_SIZE;
volatile const __u16 snat_port_min = 32768;
volatile const __u16 snat_port_max = 65535;
volatile const __u64 ct_timeout_tcp_ns = 6ULL * 3600 * 1000000000ULL;
volatile const __u64 ct_timeout_closing_ns = 10ULL * 1000000000ULL;
volatile const __u64 ct_timeout_udp_ns = 60ULL * 1000000000ULL;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SERVICES_MAP_SIZE);
	__type(key, struct svc_key);
	__type(value, struct svc_value);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BACKENDS_MAP_SIZE);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FRONTENDS_MAP_SIZE);
	__type(key, __u32);
	__type(value, struct frontend);
} rev_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_REVNAT_SIZE);
	__type(key, struct sock_key);
	__type(value, struct sock_rev);
} sock_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AFFINITY_MAP_SIZE);
	__type(key, struct affinity_key);
	__type(value, struct affinity_value);
} affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CONNTRACK_MAP_SIZE);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAGS_SIZE);
	__type(key, struct frag_key);
	__type(value, struct frag_ports);
} frags SEC(".maps");

/* BPF_F_INNER_MAP: tables of another size (a changed MaglevSize) may sit
 * in the outer map until the sync rewrites them. */
struct maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, MAGLEV_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MAGLEV_OUTER_SIZE);
	__type(key, __u32);
	__array(values, struct maglev_inner);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NODE_ADDRS_SIZE);
	__type(key, __be32);
	__type(value, struct node_addr);
} node_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FRONTENDS_MAP_SIZE);
	__type(key, __u32);
	__type(value, struct svc_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

static __always_inline void count_svc(__u32 svc_id, __u64 conns, __u64 pkts, __u64 bytes)
{
	struct svc_stats *s = bpf_map_lookup_elem(&stats, &svc_id);

	if (!s)
		return;
	s->connections += conns;
	s->packets += pkts;
	s->bytes += bytes;
}

/* lookup_frontend finds the master entry for (addr, port, proto): a
 * frontend keyed by its address, or a NodePort when addr is a node address. */
static __always_inline struct svc_value *lookup_frontend(__be32 addr, __be16 port, __u8 proto)
{
	struct svc_key key = { .addr = addr, .port = port, .proto = proto };
	struct svc_value *svc;

	svc = bpf_map_lookup_elem(&services, &key);
	if (svc)
		return svc;
	if (!bpf_map_lookup_elem(&node_addrs, &addr))
		return NULL;
	key.addr = 0;
	svc = bpf_map_lookup_elem(&services, &key);
	if (svc && (svc->flags & SVC_F_NODEPORT))
		return svc;
	return NULL;
}

/* slot_backend returns the backend id in slot 1..count of a frontend. */
static __always_inline __u32 slot_backend(__be32 addr, __be16 port, __u8 proto, __u16 slot)
{
	struct svc_key key = { .addr = addr, .port = port, .proto = proto, .slot = slot };
	struct svc_value *v = bpf_map_lookup_elem(&services, &key);

	return v ? v->id : 0;
}

/* affinity_get returns the remembered backend of a client when it is still
 * fresh and still selectable for this frontend, else 0. */
static __always_inline __u32 affinity_get(struct affinity_key *key, __u32 timeout_s)
{
	struct affinity_value *v = bpf_map_lookup_elem(&affinity, key);
	struct backend *be;

	if (!v)
		return 0;
	if (v->last_used + (__u64)timeout_s * 1000000000ULL < bpf_ktime_get_ns())
		return 0;
	be = bpf_map_lookup_elem(&backends, &v->backend_id);
	if (!be || be->svc_id != key->svc_id || !(be->flags & BE_F_ACTIVE))
		return 0;
	return v->backend_id;
}

static __always_inline void affinity_put(struct affinity_key *key, __u32 backend_id)
{
	struct affinity_value v = { .last_used = bpf_ktime_get_ns(), .backend_id = backend_id };

	bpf_map_update_elem(&affinity, key, &v, BPF_ANY);
}

#endif /* SKIFF_H */
