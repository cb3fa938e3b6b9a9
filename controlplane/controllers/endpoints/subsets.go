package endpoints

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	reconciler "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"
)

// buildSubsets computes the subsets of svc's Endpoints from the pods its
// selector matches, grouped by port set and sorted, with at most capacity
// addresses; truncated tells whether some were cut.
func buildSubsets(svc *corev1.Service, pods []*corev1.Pod, capacity int) ([]corev1.EndpointSubset, bool) {
	publish := svc.Spec.PublishNotReadyAddresses
	groups := map[string]*corev1.EndpointSubset{}
	add := func(ports []corev1.EndpointPort, addr corev1.EndpointAddress, ready bool) {
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &corev1.EndpointSubset{Ports: ports}
			groups[key] = g
		}
		if ready {
			g.Addresses = append(g.Addresses, addr)
		} else {
			g.NotReadyAddresses = append(g.NotReadyAddresses, addr)
		}
	}
	for _, pod := range pods {
		if !esutil.ShouldPodBeInEndpoints(pod, publish) {
			continue
		}
		ip, ok := podIP(svc, pod)
		if !ok {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = &pod.Spec.NodeName
		}
		if esutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := publish || esutil.IsPodReady(pod)
		if len(svc.Spec.Ports) == 0 {
			// Only a headless service may have no ports.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil, addr, ready)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := reconciler.FindPort(pod, sp)
			if err != nil {
				continue
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}}, addr, ready)
		}
	}
	return pack(groups, capacity)
}

// pack merges the one-port groups of the same addresses into multi-port
// subsets, as Kubernetes' RepackSubsets does, sorts everything, and cuts
// to capacity.
func pack(groups map[string]*corev1.EndpointSubset, capacity int) ([]corev1.EndpointSubset, bool) {
	// Address (ready or not) -> the ports it serves.
	type member struct {
		addr  corev1.EndpointAddress
		ready bool
	}
	portsOf := map[string][]corev1.EndpointPort{}
	members := map[string]member{}
	for _, g := range groups {
		for _, set := range []struct {
			addrs []corev1.EndpointAddress
			ready bool
		}{{g.Addresses, true}, {g.NotReadyAddresses, false}} {
			for _, a := range set.addrs {
				id := addressKey(a, set.ready)
				members[id] = member{a, set.ready}
				portsOf[id] = append(portsOf[id], g.Ports...)
			}
		}
	}
	bySet := map[string]*corev1.EndpointSubset{}
	for id, m := range members {
		ports := portsOf[id]
		slices.SortFunc(ports, comparePorts)
		key := portsKey(ports)
		s := bySet[key]
		if s == nil {
			s = &corev1.EndpointSubset{Ports: ports}
			if len(ports) == 0 {
				s.Ports = nil
			}
			bySet[key] = s
		}
		if m.ready {
			s.Addresses = append(s.Addresses, m.addr)
		} else {
			s.NotReadyAddresses = append(s.NotReadyAddresses, m.addr)
		}
	}
	out := make([]corev1.EndpointSubset, 0, len(bySet))
	for _, s := range bySet {
		slices.SortFunc(s.Addresses, compareAddresses)
		slices.SortFunc(s.NotReadyAddresses, compareAddresses)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b corev1.EndpointSubset) int { return strings.Compare(portsKey(a.Ports), portsKey(b.Ports)) })
	return truncate(out, capacity)
}

// truncate keeps at most capacity addresses, ready ones first, taken from
// each subset in proportion to its size.
func truncate(subsets []corev1.EndpointSubset, capacity int) ([]corev1.EndpointSubset, bool) {
	var ready, notReady int
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= capacity {
		return subsets, false
	}
	keepReady := min(ready, capacity)
	keepNotReady := capacity - keepReady
	readyLeft, notReadyLeft := keepReady, keepNotReady
	for i := range subsets {
		s := &subsets[i]
		r := min(len(s.Addresses), share(len(s.Addresses), ready, keepReady), readyLeft)
		n := min(len(s.NotReadyAddresses), share(len(s.NotReadyAddresses), notReady, keepNotReady), notReadyLeft)
		if i == len(subsets)-1 {
			r, n = min(len(s.Addresses), readyLeft), min(len(s.NotReadyAddresses), notReadyLeft)
		}
		s.Addresses, s.NotReadyAddresses = s.Addresses[:r], s.NotReadyAddresses[:n]
		readyLeft -= r
		notReadyLeft -= n
	}
	return slices.DeleteFunc(subsets, func(s corev1.EndpointSubset) bool {
		return len(s.Addresses)+len(s.NotReadyAddresses) == 0
	}), true
}

// share is part's proportional share of keep out of total, rounded up.
func share(part, total, keep int) int {
	if total == 0 {
		return 0
	}
	return (part*keep + total - 1) / total
}

// podIP is the pod's address in the service's IP family.
func podIP(svc *corev1.Service, pod *corev1.Pod) (string, bool) {
	wantV6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		wantV6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			wantV6 = a.Is6()
		}
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Unmap().Is6() == wantV6 {
			return a.Unmap().String(), true
		}
	}
	return "", false
}

func addressKey(a corev1.EndpointAddress, ready bool) string {
	uid := ""
	if a.TargetRef != nil {
		uid = string(a.TargetRef.UID)
	}
	return a.IP + "/" + uid + "/" + a.Hostname + "/" + strconv.FormatBool(ready)
}

func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(p.Name + ":" + strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol) + ";")
	}
	return b.String()
}

func comparePorts(a, b corev1.EndpointPort) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), strings.Compare(string(a.Protocol), string(b.Protocol)))
}

func compareAddresses(a, b corev1.EndpointAddress) int {
	c := strings.Compare(a.IP, b.IP)
	if c != 0 || a.TargetRef == nil || b.TargetRef == nil {
		return c
	}
	return strings.Compare(string(a.TargetRef.UID), string(b.TargetRef.UID))
}
