package apiserver_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

func service(name string, typ corev1.ServiceType, clusterIP string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: nodePort}}},
	}
}

// Cluster IPs and node ports are allocated on create, unique, released on
// delete, refused with 422 when taken, 500 when the range is exhausted,
// absent for headless services, and survive a restart.
func TestServiceAllocation(t *testing.T) {
	dir := t.TempDir()
	cfg, err := servertest.Config(dir, func(c *server.Config) {
		c.ServiceCIDR = netip.MustParsePrefix("10.96.0.0/28") // 14 addresses
		c.NodePortBase, c.NodePortSize = 30100, 4
	})
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.StartWith(t, cfg)
	ctx := testContext(t)
	svcs := s.Client.CoreV1().Services("default")

	a, err := svcs.Create(ctx, service("a", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.ClusterIP == "" || a.Spec.ClusterIP == "10.96.0.1" || a.Spec.Ports[0].NodePort < 30100 || a.Spec.Ports[0].NodePort > 30103 {
		t.Fatalf("allocated %s and %d", a.Spec.ClusterIP, a.Spec.Ports[0].NodePort)
	}
	if len(a.Spec.ClusterIPs) != 1 || a.Spec.ClusterIPs[0] != a.Spec.ClusterIP {
		t.Fatalf("clusterIPs %v", a.Spec.ClusterIPs)
	}
	_, err = svcs.Create(ctx, service("b", corev1.ServiceTypeClusterIP, a.Spec.ClusterIP, 0), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Fatalf("taken IP: got %v, want 422 already allocated", err)
	}
	_, err = svcs.Create(ctx, service("b", corev1.ServiceTypeNodePort, "", a.Spec.Ports[0].NodePort), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided port is already allocated") {
		t.Fatalf("taken node port: got %v, want 422 already allocated", err)
	}
	_, err = svcs.Create(ctx, service("b", corev1.ServiceTypeClusterIP, "10.0.0.5", 0), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "not in the valid range") {
		t.Fatalf("IP outside the range: got %v, want 422", err)
	}
	h, err := svcs.Create(ctx, service("headless", corev1.ServiceTypeClusterIP, corev1.ClusterIPNone, 0), metav1.CreateOptions{})
	if err != nil || h.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("headless: %v %q", err, h.Spec.ClusterIP)
	}

	// Fill the node ports: 3 more services take the 3 left, the next fails.
	for i := range 3 {
		if _, err := svcs.Create(ctx, service(fmt.Sprint("np", i), corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{}); err != nil {
			t.Fatalf("np%d: %v", i, err)
		}
	}
	_, err = svcs.Create(ctx, service("np3", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "range is full") {
		t.Fatalf("exhausted node ports: got %v, want 500 range is full", err)
	}
	// A deleted service frees its port and address.
	if err := svcs.Delete(ctx, "np0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("np3", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// Turning a NodePort service into ClusterIP releases its node port.
	np1, _ := svcs.Get(ctx, "np1", metav1.GetOptions{})
	np1.Spec.Type = corev1.ServiceTypeClusterIP
	np1.Spec.Ports[0].NodePort = 0
	if np1, err = svcs.Update(ctx, np1, metav1.UpdateOptions{}); err != nil || np1.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("to ClusterIP: %v %+v", err, np1)
	}
	if _, err := svcs.Create(ctx, service("np4", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{}); err != nil {
		t.Fatalf("port freed by a type change: %v", err)
	}
	// Replacing a service with its original manifest keeps its allocations.
	orig := service("a", corev1.ServiceTypeNodePort, "", 0)
	cur, _ := svcs.Get(ctx, "a", metav1.GetOptions{})
	orig.ResourceVersion = cur.ResourceVersion
	if r, err := svcs.Update(ctx, orig, metav1.UpdateOptions{}); err != nil || r.Spec.ClusterIP != a.Spec.ClusterIP || r.Spec.Ports[0].NodePort != a.Spec.Ports[0].NodePort {
		t.Fatalf("replace: %v %+v", err, r)
	}

	// Fill the addresses: 14 in the range, one is the kubernetes service's.
	list, _ := svcs.List(ctx, metav1.ListOptions{})
	used := 0
	for _, s := range list.Items {
		if s.Spec.ClusterIP != corev1.ClusterIPNone && s.Spec.ClusterIP != "" {
			used++
		}
	}
	for i := used; i < 14; i++ {
		if _, err := svcs.Create(ctx, service(fmt.Sprint("ip", i), corev1.ServiceTypeClusterIP, "", 0), metav1.CreateOptions{}); err != nil {
			t.Fatalf("ip%d: %v", i, err)
		}
	}
	if _, err := svcs.Create(ctx, service("full", corev1.ServiceTypeClusterIP, "", 0), metav1.CreateOptions{}); !apierrors.IsInternalError(err) {
		t.Fatalf("exhausted addresses: got %v, want 500", err)
	}

	// After a restart the allocations are still known.
	s.Stop()
	s = servertest.StartWith(t, cfg)
	svcs = s.Client.CoreV1().Services("default")
	if _, err := svcs.Create(ctx, service("full", corev1.ServiceTypeClusterIP, "", 0), metav1.CreateOptions{}); !apierrors.IsInternalError(err) {
		t.Fatalf("exhausted addresses after a restart: got %v, want 500", err)
	}
	if err := svcs.Delete(ctx, "ip13", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("full", corev1.ServiceTypeClusterIP, "", 0), metav1.CreateOptions{}); err != nil {
		t.Fatalf("after a release following a restart: %v", err)
	}
	all, _ := svcs.List(ctx, metav1.ListOptions{})
	seen := map[string]string{}
	for _, s := range all.Items {
		if ip := s.Spec.ClusterIP; ip != corev1.ClusterIPNone {
			if other, dup := seen[ip]; dup {
				t.Fatalf("%s and %s share %s", other, s.Name, ip)
			}
			seen[ip] = s.Name
		}
	}
}

// A LoadBalancer service that keeps traffic local gets a health check node
// port from the node port range, freed when it no longer needs one.
func TestHealthCheckNodePort(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	svcs := shared.Client.CoreV1().Services(ns)
	lb := service("lb", corev1.ServiceTypeLoadBalancer, "", 0)
	lb.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	lb, err := svcs.Create(ctx, lb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := lb.Spec.HealthCheckNodePort
	if hc < 30000 || hc > 32767 || hc == lb.Spec.Ports[0].NodePort {
		t.Fatalf("health check node port %d (node port %d)", hc, lb.Spec.Ports[0].NodePort)
	}
	lb.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if lb, err = svcs.Update(ctx, lb, metav1.UpdateOptions{}); err != nil || lb.Spec.HealthCheckNodePort != 0 {
		t.Fatalf("to Cluster: %v, health check port %d", err, lb.Spec.HealthCheckNodePort)
	}
	// The freed port can be asked for by another service.
	np := service("np", corev1.ServiceTypeNodePort, "", hc)
	if _, err := svcs.Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the released health check port: %v", err)
	}
	// LoadBalancer to ClusterIP drops what only LoadBalancers have.
	lb.Spec.Type = corev1.ServiceTypeClusterIP
	if lb, err = svcs.Update(ctx, lb, metav1.UpdateOptions{}); err != nil || lb.Spec.AllocateLoadBalancerNodePorts != nil || lb.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("to ClusterIP: %v %+v", err, lb.Spec)
	}
}
