/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nodeport.h: per-packet NodePort load balancing on the node's external
 * devices. Ingress: DNAT to a backend picked by Maglev (or the client's
 * affinity), SNAT to the node address when the backend is on another node,
 * conntrack in an LRU map, and reverse translation of replies that come
 * back to the SNAT address. Replies from local backends, which keep the
 * client address, are translated back where they enter the node from the
 * pods (ingress of the pod device, the CNI bridge), whatever device they
 * leave by, and else on the egress of the NodePort devices. ICMP errors
 * about a translated flow are translated too.
 *
 * IPv4 fragments: the first fragment carries the ports; they are kept in
 * frags under (source, destination, IP id, protocol), and the later
 * fragments of the datagram are translated like it (addresses only: the
 * L4 checksum is in the first fragment). A later fragment that arrives
 * before its first one is not recognised and goes to the stack untouched.
 */
#ifndef SKIFF_NODEPORT_H
#define SKIFF_NODEPORT_H

#include "skiff.h"
#include "jhash.h"

#define ETH_HLEN_ 14
#define IP_OFF_TTL 8
#define IP_OFF_CSUM 10
#define IP_OFF_SADDR 12
#define IP_OFF_DADDR 16
#define TCP_OFF_FLAGS 13
#define TCP_OFF_CSUM 16
#define UDP_OFF_CSUM 6
#define ICMP_OFF_CSUM 2
#define SNAT_TRIES 16

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* TC verdicts: UNSPEC lets the next program (or the stack) decide. */
#define CTX_PASS TC_ACT_UNSPEC

struct pkt {
	__u32 l3;    /* offset of the IPv4 header */
	__u32 l4;    /* offset of the L4 header */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 ttl;
	__u8 frag; /* FRAG_* */
};

/* pkt.frag */
#define FRAG_NONE 0  /* a whole datagram */
#define FRAG_FIRST 1 /* the first fragment: it has the L4 header */
#define FRAG_LATER 2 /* a later fragment: ports from frags, no L4 header */

/* Where a tc program runs, for the translations shared between them. */
#define AT_NODE_INGRESS 0 /* from the network, on a NodePort device */
#define AT_NODE_EGRESS 1  /* to the network, on a NodePort device */
#define AT_POD_INGRESS 2  /* from local pods, on a pod device */

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* parse4 reads the IPv4 and L4 headers of an Ethernet frame. It returns -1
 * for anything that is not IPv4 TCP, UDP or (unfragmented) ICMP, and for
 * a later fragment whose first fragment was not seen. */
static __always_inline int parse4(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct frag_key fk = {};
	struct frag_ports fp, *known;
	__be16 ports[2];
	__u16 frag_off;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return -1;
	p->l3 = ETH_HLEN_;
	p->l4 = ETH_HLEN_ + ip->ihl * 4;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	frag_off = bpf_ntohs(ip->frag_off);
	p->frag = FRAG_NONE;
	if (frag_off & (IP_MF | IP_OFFSET)) {
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return -1;
		fk.saddr = p->saddr;
		fk.daddr = p->daddr;
		fk.id = ip->id;
		fk.proto = p->proto;
		p->frag = (frag_off & IP_OFFSET) ? FRAG_LATER : FRAG_FIRST;
	}
	if (p->frag == FRAG_LATER) {
		known = bpf_map_lookup_elem(&frags, &fk);
		if (!known)
			return -1;
		p->sport = known->sport;
		p->dport = known->dport;
		return 0;
	}
	switch (p->proto) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, p->l4 + TCP_OFF_FLAGS, &p->tcp_flags, 1) < 0)
			return -1;
		/* fallthrough */
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(skb, p->l4, ports, sizeof(ports)) < 0)
			return -1;
		p->sport = ports[0];
		p->dport = ports[1];
		if (p->frag == FRAG_FIRST) {
			fp.sport = ports[0];
			fp.dport = ports[1];
			bpf_map_update_elem(&frags, &fk, &fp, BPF_ANY);
		}
		return 0;
	case IPPROTO_ICMP:
		return 0;
	}
	return -1;
}

static __always_inline __u32 l4_csum_off(__u8 proto)
{
	return proto == IPPROTO_TCP ? TCP_OFF_CSUM : UDP_OFF_CSUM;
}

static __always_inline __u64 l4_csum_flags(__u8 proto)
{
	return proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* set_addr rewrites the address at l3+off (saddr or daddr) and fixes the IP
 * checksum and, for TCP and UDP at l4, the pseudo-header part of the L4
 * checksum. */
static __always_inline int set_addr(struct __sk_buff *skb, __u32 l3, __u32 off, __u32 l4, __u8 proto,
				    __be32 old, __be32 new)
{
	if (old == new)
		return 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (bpf_l4_csum_replace(skb, l4 + l4_csum_off(proto), old, new,
					BPF_F_PSEUDO_HDR | l4_csum_flags(proto) | sizeof(new)) < 0)
			return -1;
	}
	if (bpf_l3_csum_replace(skb, l3 + IP_OFF_CSUM, old, new, sizeof(new)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, l3 + off, &new, sizeof(new), 0);
}

/* set_port rewrites the port at l4+off and fixes the checksum at csum_off
 * (an L4 checksum, or the ICMP checksum for a port inside an ICMP error). */
static __always_inline int set_port(struct __sk_buff *skb, __u32 off, __u32 csum_off, __u64 csum_flags,
				    __be16 old, __be16 new)
{
	if (old == new)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, old, new, csum_flags | sizeof(new)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &new, sizeof(new), 0);
}

/* rewrite4 translates a TCP or UDP packet to saddr:sport -> daddr:dport. A
 * later fragment has no L4 header: only its addresses change. */
static __always_inline int rewrite4(struct __sk_buff *skb, struct pkt *p, __be32 saddr, __be16 sport,
				    __be32 daddr, __be16 dport)
{
	__u32 csum = p->l4 + l4_csum_off(p->proto);
	__u64 flags = l4_csum_flags(p->proto);

	if (p->frag == FRAG_LATER) {
		if (set_addr(skb, p->l3, IP_OFF_SADDR, 0, 0, p->saddr, saddr) < 0 ||
		    set_addr(skb, p->l3, IP_OFF_DADDR, 0, 0, p->daddr, daddr) < 0)
			return -1;
		p->saddr = saddr;
		p->daddr = daddr;
		return 0;
	}
	if (set_addr(skb, p->l3, IP_OFF_SADDR, p->l4, p->proto, p->saddr, saddr) < 0 ||
	    set_addr(skb, p->l3, IP_OFF_DADDR, p->l4, p->proto, p->daddr, daddr) < 0 ||
	    set_port(skb, p->l4, csum, flags, p->sport, sport) < 0 ||
	    set_port(skb, p->l4 + 2, csum, flags, p->dport, dport) < 0)
		return -1;
	p->saddr = saddr;
	p->daddr = daddr;
	p->sport = sport;
	p->dport = dport;
	return 0;
}

/* forward4 sends a translated packet straight to its next hop: the kernel
 * would drop a received packet whose source is now a local address, so the
 * packet does not go back through the stack. When the FIB has no answer,
 * a packet that kept its client source goes to the stack; a SNATed one is
 * dropped and counted. */
static __always_inline int forward4(struct __sk_buff *skb, struct pkt *p, int snat)
{
	struct bpf_fib_lookup fib = {};
	struct bpf_redir_neigh nh = {};
	__be16 old_ttl, new_ttl;
	long rc;

	fib.family = AF_INET;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.ipv4_src = p->saddr;
	fib.ipv4_dst = p->daddr;
	fib.ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;

	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		count_drop(DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	default:
		if (!snat)
			return CTX_PASS;
		count_drop(DROP_FIB_FAILED);
		return TC_ACT_SHOT;
	}
	if (p->ttl <= 1) {
		if (!snat)
			return CTX_PASS; /* the stack answers with time exceeded */
		count_drop(DROP_TTL_EXCEEDED);
		return TC_ACT_SHOT;
	}
	old_ttl = bpf_htons(((__u16)p->ttl << 8) | p->proto);
	new_ttl = bpf_htons(((__u16)(p->ttl - 1) << 8) | p->proto);
	if (bpf_l3_csum_replace(skb, p->l3 + IP_OFF_CSUM, old_ttl, new_ttl, 2) < 0 ||
	    bpf_skb_store_bytes(skb, p->l3 + IP_OFF_TTL, &new_ttl, 1, 0) < 0)
		return TC_ACT_SHOT;
	nh.nh_family = AF_INET;
	nh.ipv4_nh = fib.ipv4_dst; /* the gateway when there is one */
	return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
}

static __always_inline int ct_expired(struct ct_entry *ct, __u64 now)
{
	return ct->expires < now;
}

/* ct_refresh extends a flow's lifetime and notes TCP teardown. */
static __always_inline void ct_refresh(struct ct_entry *ct, struct pkt *p, __u64 now, int reply)
{
	__u64 timeout = ct_timeout_udp_ns;

	if (reply)
		ct->flags |= CT_F_SEEN_REPLY;
	if (p->proto == IPPROTO_TCP) {
		if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			ct->flags |= CT_F_CLOSING;
		timeout = (ct->flags & CT_F_CLOSING) ? ct_timeout_closing_ns : ct_timeout_tcp_ns;
	}
	ct->expires = now + timeout;
}

/* select_backend picks a backend for a new NodePort flow: the client's
 * affinity when the service has one, else the frontend's Maglev table. */
static __always_inline __u32 select_backend(struct pkt *p, __u32 svc_id, __u16 count, __u32 timeout,
					    __be32 key_addr)
{
	struct affinity_key akey = { .client = p->saddr, .svc_id = svc_id };
	__u32 backend_id = 0, idx, *table_id;
	void *table;

	if (timeout) {
		backend_id = affinity_get(&akey, timeout);
		if (backend_id)
			return backend_id;
	}
	table = bpf_map_lookup_elem(&maglev, &svc_id);
	if (table) {
		idx = jhash_3words(p->saddr, p->daddr, ((__u32)p->sport << 16) | p->dport, p->proto) % maglev_size;
		table_id = bpf_map_lookup_elem(table, &idx);
		if (table_id)
			backend_id = *table_id;
	} else {
		backend_id = slot_backend(key_addr, p->dport, p->proto, (bpf_get_prandom_u32() % count) + 1);
	}
	if (backend_id && timeout)
		affinity_put(&akey, backend_id);
	return backend_id;
}

/* snat_alloc creates the reply entry of a SNATed flow on a free port of
 * the node address: the client's own port when it is free, else ports
 * drawn from the SNAT range. */
static __always_inline int snat_alloc(struct pkt *p, struct ct_entry *ct, __u64 now)
{
	__u32 range = (__u32)snat_port_max - snat_port_min + 1;
	struct ct_key rk = {
		.saddr = ct->backend_addr,
		.daddr = ct->snat_addr,
		.sport = ct->backend_port,
		.proto = p->proto,
		.dir = CT_DIR_REPLY,
	};
	struct ct_entry *old;
	__u16 port;
	int i;

	for (i = 0; i < SNAT_TRIES; i++) {
		if (i == 0)
			port = bpf_ntohs(p->sport);
		else
			port = snat_port_min + (jhash_3words(p->saddr, ((__u32)p->sport << 16) | p->dport, i, 0x5eed) % range);
		rk.dport = bpf_htons(port);
		old = bpf_map_lookup_elem(&conntrack, &rk);
		if (old && !ct_expired(old, now))
			continue;
		ct->snat_port = rk.dport;
		if (bpf_map_update_elem(&conntrack, &rk, ct, BPF_ANY) < 0) {
			count_drop(DROP_CT_FULL);
			return -1;
		}
		return 0;
	}
	count_drop(DROP_SNAT_EXHAUSTED);
	return -1;
}

/* ct_forget removes the reply entry of a flow that is being replaced. */
static __always_inline void ct_forget(struct ct_entry *ct)
{
	struct ct_key rk = {
		.saddr = ct->backend_addr,
		.sport = ct->backend_port,
		.proto = ct->proto,
		.dir = CT_DIR_REPLY,
	};

	if (ct->flags & CT_F_SNAT) {
		rk.daddr = ct->snat_addr;
		rk.dport = ct->snat_port;
	} else {
		rk.daddr = ct->client_addr;
		rk.dport = ct->client_port;
	}
	bpf_map_delete_elem(&conntrack, &rk);
}

static __always_inline __u16 csum_fold(__s64 diff)
{
	__u32 sum = (__u32)diff;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The ICMP error built by reject4: new IP and ICMP headers, then the
 * offending packet's IP header and L4 header (TCP: 20 bytes, UDP: 8). */
struct reject_msg {
	struct iphdr ip;
	struct icmphdr icmp;
	__u8 quote[40];
};

#define REJECT_TCP (sizeof(struct iphdr) + sizeof(struct icmphdr) + 40)
#define REJECT_UDP (sizeof(struct iphdr) + sizeof(struct icmphdr) + 28)

/* reject4 turns a packet to a frontend without backends into an ICMP port
 * unreachable to its sender and sends it back out the device it came in
 * on, so the client fails at once, as with kube-proxy's REJECT. */
static __always_inline int reject4(struct __sk_buff *skb, struct pkt *p)
{
	struct reject_msg m = {};
	struct ethhdr eth;
	__u8 mac[ETH_ALEN];
	int tcp = p->proto == IPPROTO_TCP;
	__u32 quote = tcp ? 40 : 28;

	if (p->l4 != ETH_HLEN_ + sizeof(struct iphdr)) /* IP options: just drop */
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return TC_ACT_SHOT;
	if (tcp) {
		if (bpf_skb_load_bytes(skb, p->l3, m.quote, 40) < 0)
			return TC_ACT_SHOT;
	} else if (bpf_skb_load_bytes(skb, p->l3, m.quote, 28) < 0) {
		return TC_ACT_SHOT;
	}
	if (bpf_skb_change_tail(skb, ETH_HLEN_ + quote, 0) < 0 ||
	    bpf_skb_adjust_room(skb, sizeof(struct iphdr) + sizeof(struct icmphdr), BPF_ADJ_ROOM_MAC, 0) < 0)
		return TC_ACT_SHOT;

	m.ip.version = 4;
	m.ip.ihl = 5;
	m.ip.ttl = 64;
	m.ip.protocol = IPPROTO_ICMP;
	m.ip.tot_len = bpf_htons(sizeof(struct iphdr) + sizeof(struct icmphdr) + quote);
	m.ip.saddr = p->daddr;
	m.ip.daddr = p->saddr;
	m.ip.check = csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&m.ip, sizeof(m.ip), 0));
	m.icmp.type = ICMP_DEST_UNREACH;
	m.icmp.code = ICMP_PORT_UNREACH;
	if (tcp)
		m.icmp.checksum = csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&m.icmp, sizeof(m.icmp) + 40, 0));
	else
		m.icmp.checksum = csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&m.icmp, sizeof(m.icmp) + 28, 0));

	__builtin_memcpy(mac, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, mac, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0)
		return TC_ACT_SHOT;
	if (tcp) {
		if (bpf_skb_store_bytes(skb, ETH_HLEN_, &m, REJECT_TCP, 0) < 0)
			return TC_ACT_SHOT;
	} else if (bpf_skb_store_bytes(skb, ETH_HLEN_, &m, REJECT_UDP, 0) < 0) {
		return TC_ACT_SHOT;
	}
	return bpf_redirect(skb->ifindex, 0);
}

/* nodeport_new creates the conntrack entries of a new flow to a frontend. */
static __always_inline int nodeport_new(struct pkt *p, struct ct_key *fk, struct ct_entry *ct, __u32 svc_id,
					__u16 count, __u32 timeout, __be32 key_addr, __u64 now)
{
	struct ct_key rk = {};
	struct backend *be;
	__u32 backend_id;

	backend_id = select_backend(p, svc_id, count, timeout, key_addr);
	be = backend_id ? bpf_map_lookup_elem(&backends, &backend_id) : NULL;
	if (!be) {
		/* A sync swapped the table between our lookups: look again. */
		backend_id = select_backend(p, svc_id, count, timeout, key_addr);
		be = backend_id ? bpf_map_lookup_elem(&backends, &backend_id) : NULL;
	}
	if (!be) {
		count_drop(DROP_BACKEND_GONE);
		return -1;
	}
	__builtin_memset(ct, 0, sizeof(*ct));
	ct->client_addr = p->saddr;
	ct->client_port = p->sport;
	ct->frontend_addr = p->daddr;
	ct->frontend_port = p->dport;
	ct->backend_addr = be->addr;
	ct->backend_port = be->port;
	ct->backend_id = backend_id;
	ct->svc_id = svc_id;
	ct->proto = p->proto;
	ct_refresh(ct, p, now, 0);

	/* SNAT exactly when the backend is remote. With externalTrafficPolicy
	 * Local every backend is local; deciding by the backend alone keeps a
	 * policy change safe while the maps are half updated. */
	if (!(be->flags & BE_F_LOCAL)) {
		ct->flags |= CT_F_SNAT;
		ct->snat_addr = p->daddr;
		if (snat_alloc(p, ct, now) < 0)
			return -1;
	} else {
		rk.saddr = ct->backend_addr;
		rk.daddr = ct->client_addr;
		rk.sport = ct->backend_port;
		rk.dport = ct->client_port;
		rk.proto = p->proto;
		rk.dir = CT_DIR_REPLY;
		if (bpf_map_update_elem(&conntrack, &rk, ct, BPF_ANY) < 0) {
			count_drop(DROP_CT_FULL);
			return -1;
		}
	}
	if (bpf_map_update_elem(&conntrack, fk, ct, BPF_ANY) < 0) {
		count_drop(DROP_CT_FULL);
		return -1;
	}
	count_svc(svc_id, 1, 0, 0);
	return 0;
}

/* nodeport_reply_snat reverse-translates a reply that a remote backend sent
 * to our SNAT address and sends it on to the client. */
static __always_inline int nodeport_reply_snat(struct __sk_buff *skb, struct pkt *p, struct ct_entry *ct,
					       __u64 now)
{
	__be32 faddr = ct->frontend_addr, caddr = ct->client_addr;
	__be16 fport = ct->frontend_port, cport = ct->client_port;

	ct_refresh(ct, p, now, 1);
	count_svc(ct->svc_id, 0, 1, skb->len);
	if (rewrite4(skb, p, faddr, fport, caddr, cport) < 0)
		return TC_ACT_SHOT;
	return forward4(skb, p, 1);
}

/*
 * ICMP errors carry the start of the packet that caused them. For an error
 * about a translated flow, the inner packet and the outer addresses are
 * translated back, so the client sees an error about the packet it sent.
 * Only the inner IP checksum and the ICMP checksum are fixed: the inner L4
 * checksum covers data the error does not carry in full.
 */
static __always_inline int icmp_err_xlate(struct __sk_buff *skb, struct pkt *p, int at)
{
	struct icmphdr icmp;
	struct iphdr in;
	struct ct_entry *ct;
	struct ct_key rk = { .dir = CT_DIR_REPLY };
	__be16 ports[2];
	__u32 il3, il4, icsum;
	__be32 faddr, caddr, baddr, saddr;
	__be16 fport, cport, bport, sport;
	int snat;

	if (bpf_skb_load_bytes(skb, p->l4, &icmp, sizeof(icmp)) < 0)
		return CTX_PASS;
	if (icmp.type != ICMP_DEST_UNREACH && icmp.type != ICMP_TIME_EXCEEDED && icmp.type != ICMP_PARAMETERPROB)
		return CTX_PASS;
	il3 = p->l4 + sizeof(icmp);
	if (bpf_skb_load_bytes(skb, il3, &in, sizeof(in)) < 0 || in.ihl != 5)
		return CTX_PASS;
	if (in.protocol != IPPROTO_TCP && in.protocol != IPPROTO_UDP)
		return CTX_PASS;
	il4 = il3 + sizeof(in);
	if (bpf_skb_load_bytes(skb, il4, ports, sizeof(ports)) < 0)
		return CTX_PASS;

	/* The inner packet went out to the backend; its reply tuple keys the flow. */
	rk.saddr = in.daddr;
	rk.daddr = in.saddr;
	rk.sport = ports[1];
	rk.dport = ports[0];
	rk.proto = in.protocol;
	ct = bpf_map_lookup_elem(&conntrack, &rk);
	if (!ct)
		return CTX_PASS;
	/* Errors about SNATed flows come from the network to the node; errors
	 * from local backends come from the pods. */
	snat = ct->flags & CT_F_SNAT;
	if (!!snat != (at == AT_NODE_INGRESS))
		return CTX_PASS;
	faddr = ct->frontend_addr;
	fport = ct->frontend_port;
	caddr = ct->client_addr;
	cport = ct->client_port;
	baddr = ct->backend_addr;
	bport = ct->backend_port;
	saddr = ct->snat_addr;
	sport = ct->snat_port;
	icsum = p->l4 + ICMP_OFF_CSUM;

	/* Inner destination: backend -> frontend. An address change and its
	 * inner IP checksum change cancel out in the ICMP checksum. */
	if (set_addr(skb, il3, IP_OFF_DADDR, 0, 0, baddr, faddr) < 0 ||
	    set_port(skb, il4 + 2, icsum, 0, bport, fport) < 0)
		return TC_ACT_SHOT;
	if (snat) {
		if (set_addr(skb, il3, IP_OFF_SADDR, 0, 0, saddr, caddr) < 0 ||
		    set_port(skb, il4, icsum, 0, sport, cport) < 0 ||
		    set_addr(skb, p->l3, IP_OFF_DADDR, 0, 0, p->daddr, caddr) < 0)
			return TC_ACT_SHOT;
		p->daddr = caddr;
	}
	if (p->saddr == baddr) {
		if (set_addr(skb, p->l3, IP_OFF_SADDR, 0, 0, baddr, faddr) < 0)
			return TC_ACT_SHOT;
		p->saddr = faddr;
		/* From a pod, a packet whose source is now a node address
		 * would be dropped by the stack as a martian: send it on. */
		if (at == AT_POD_INGRESS)
			return forward4(skb, p, 1);
	}
	if (at == AT_NODE_INGRESS)
		return forward4(skb, p, 1);
	return CTX_PASS;
}

static __always_inline int nodeport_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct ct_key key = {};
	struct ct_entry *ct, fresh;
	struct svc_value *svc;
	struct backend *be;
	__u64 now;
	__u32 svc_id, timeout;
	__u16 count, flags;
	__be32 key_addr;
	int snat;

	if (parse4(skb, &p) < 0)
		return CTX_PASS;
	if (p.proto == IPPROTO_ICMP)
		return icmp_err_xlate(skb, &p, AT_NODE_INGRESS);
	now = bpf_ktime_get_ns();

	/* A reply from a remote backend to the SNAT address. */
	key.saddr = p.saddr;
	key.daddr = p.daddr;
	key.sport = p.sport;
	key.dport = p.dport;
	key.proto = p.proto;
	key.dir = CT_DIR_REPLY;
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct && (ct->flags & CT_F_SNAT) && !ct_expired(ct, now))
		return nodeport_reply_snat(skb, &p, ct, now);

	svc = lookup_frontend(p.daddr, p.dport, p.proto);
	if (!svc || !(svc->flags & SVC_F_NODEPORT))
		return CTX_PASS;
	svc_id = svc->id;
	count = svc->count;
	flags = svc->flags;
	timeout = svc->affinity_timeout;
	key_addr = 0;

	key.dir = CT_DIR_ORIGINAL;
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct) {
		be = bpf_map_lookup_elem(&backends, &ct->backend_id);
		if (ct_expired(ct, now) || !be || be->svc_id != svc_id ||
		    ((p.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN && (ct->flags & CT_F_CLOSING))) {
			/* The flow ended or its backend is gone: start over. */
			ct_forget(ct);
			bpf_map_delete_elem(&conntrack, &key);
			ct = NULL;
		}
	}
	if (!ct) {
		/* A later fragment of a datagram whose first fragment made no
		 * flow (it went to the stack): leave it to the stack too. */
		if (p.frag == FRAG_LATER)
			return CTX_PASS;
		if (count == 0) {
			count_drop(DROP_NO_BACKEND);
			/* Local policy: drop, so the health check steers clients away. */
			if (flags & SVC_F_EXT_LOCAL)
				return TC_ACT_SHOT;
			return reject4(skb, &p);
		}
		if (nodeport_new(&p, &key, &fresh, svc_id, count, timeout, key_addr, now) < 0)
			return TC_ACT_SHOT;
		ct = bpf_map_lookup_elem(&conntrack, &key);
		if (!ct)
			return TC_ACT_SHOT;
	}
	ct_refresh(ct, &p, now, 0);
	count_svc(svc_id, 0, 1, skb->len);
	snat = ct->flags & CT_F_SNAT;
	if (rewrite4(skb, &p, snat ? ct->snat_addr : p.saddr, snat ? ct->snat_port : p.sport, ct->backend_addr,
		     ct->backend_port) < 0)
		return TC_ACT_SHOT;
	return forward4(skb, &p, snat);
}

/* local_reply translates a reply from a local backend to a NodePort client
 * back to the frontend. It returns 1 when it did, 0 when the packet is no
 * such reply, and -1 when the rewrite failed. */
static __always_inline int local_reply(struct __sk_buff *skb, struct pkt *p)
{
	struct ct_key key = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
		.dir = CT_DIR_REPLY,
	};
	struct ct_entry *ct;
	__u64 now;

	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (!ct || (ct->flags & CT_F_SNAT))
		return 0;
	now = bpf_ktime_get_ns();
	if (ct_expired(ct, now))
		return 0;
	ct_refresh(ct, p, now, 1);
	count_svc(ct->svc_id, 0, 1, skb->len);
	if (rewrite4(skb, p, ct->frontend_addr, ct->frontend_port, p->daddr, p->dport) < 0)
		return -1;
	return 1;
}

/* nodeport_egress: a local backend's reply leaving by a NodePort device
 * that no pod device program translated (its pod is not behind one). */
static __always_inline int nodeport_egress(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (parse4(skb, &p) < 0)
		return CTX_PASS;
	if (p.proto == IPPROTO_ICMP)
		return icmp_err_xlate(skb, &p, AT_NODE_EGRESS);
	if (local_reply(skb, &p) < 0)
		return TC_ACT_SHOT;
	return CTX_PASS;
}

/* pod_ingress: traffic from local pods entering the node. A local
 * backend's reply is translated here, so it is right whatever device the
 * route to the client leaves by, and sent on directly: its source is now a
 * node address, which the stack drops when it comes from a pod. */
static __always_inline int pod_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (parse4(skb, &p) < 0)
		return CTX_PASS;
	if (p.proto == IPPROTO_ICMP)
		return icmp_err_xlate(skb, &p, AT_POD_INGRESS);
	switch (local_reply(skb, &p)) {
	case 0:
		return CTX_PASS;
	case 1:
		return forward4(skb, &p, 1);
	}
	return TC_ACT_SHOT;
}

SEC("tc")
int tc_nodeport_ingress(struct __sk_buff *skb)
{
	return nodeport_ingress(skb);
}

SEC("tc")
int tc_nodeport_egress(struct __sk_buff *skb)
{
	return nodeport_egress(skb);
}

SEC("tc")
int tc_pod_ingress(struct __sk_buff *skb)
{
	return pod_ingress(skb);
}

#endif /* SKIFF_NODEPORT_H */
