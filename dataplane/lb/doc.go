// Package lb is the eBPF service dataplane's kernel side: it loads the
// programs of bpf/ (compiled by bpf2go into bpf_bpfel.o), attaches them
// (socket programs to a cgroup v2 directory, NodePort programs to node
// devices with TCX or clsact, the pod program to pod devices), pins maps and links so that a restarted
// process takes them over, and programs the maps from model.Service values
// with an engine that writes only differences, in an order that never
// exposes a missing or stale backend.
//
// The maps (bpf/skiff.h): services (address, port, protocol, slot ->
// master entry or backend slot), backends, rev_nat, sock_revnat (LRU),
// affinity (LRU), conntrack (LRU), maglev (a table per NodePort frontend),
// node_addrs, frags (LRU: the ports of fragmented datagrams), and per-CPU
// stats and drops counters. A second object (bpf/sock_term.c, Linux 6.5+)
// destroys the UDP sockets of removed backends with bpf_sock_destroy.
package lb
