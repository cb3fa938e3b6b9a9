/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * skiff.c: the one BPF object of the skiff service dataplane. Socket-level
 * load balancing for ClusterIPs (sock.h) and per-packet NodePort (nodeport.h)
 * share the maps in skiff.h. Built by bpf2go from dataplane/lb.
 */
#include "skiff.h"
#include "sock.h"
#include "nodeport.h"

char __license[] SEC("license") = "Dual BSD/GPL";
