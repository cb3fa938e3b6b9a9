package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/registry"
)

// bootstrapper creates the objects every cluster has and keeps them: the
// default, kube-system, kube-public and kube-node-lease namespaces, the
// system-cluster-critical and system-node-critical PriorityClasses, and
// the kubernetes Service with its Endpoints and EndpointSlice pointing at
// this apiserver.
type bootstrapper struct {
	stores map[string]*registry.Store
	cfg    Config
	log    *slog.Logger
}

// BootstrapNamespaces exist in every cluster.
var BootstrapNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

const bootstrapManager = "skiff-bootstrap"

// Start re-checks the bootstrap objects every 30 seconds until ctx is done.
func (b *bootstrapper) Start(ctx context.Context) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := b.ensure(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("bootstrap objects", "err", err)
			}
		}
	}
}

func (b *bootstrapper) store(gv, plural string) *registry.Store { return b.stores[gv+"/"+plural] }

func (b *bootstrapper) ensure(ctx context.Context) error {
	opts := registry.WriteOptions{FieldManager: bootstrapManager}
	for _, name := range BootstrapNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := b.store("v1", "namespaces").Create(ctx, "", ns, opts); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	// As kube-apiserver, only missing classes are created: validation
	// keeps their value, and admission their existence.
	for _, pc := range apis.SystemPriorityClasses() {
		if _, err := b.store("scheduling.k8s.io/v1", "priorityclasses").Create(ctx, "", pc, opts); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priority class %s: %w", pc.Name, err)
		}
	}
	port := int32(b.cfg.HTTPSPort)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: FirstServiceIP(b.cfg.ServiceCIDR).String(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(port)}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := b.store("v1", "services").Create(ctx, metav1.NamespaceDefault, svc, opts); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes service: %w", err)
	}
	addr := b.advertiseAddress()
	if !addr.IsValid() {
		b.log.Warn("no non-loopback address to advertise; the kubernetes service has no endpoints")
		return nil
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "skiff-apiserver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("https"), Port: &port, Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, o := range []struct {
		store *registry.Store
		obj   runtime.Object
	}{{b.store("v1", "endpoints"), ep}, {b.store("discovery.k8s.io/v1", "endpointslices"), slice}} {
		_, _, err := o.store.Update(ctx, metav1.NamespaceDefault, "kubernetes", func(context.Context, runtime.Object) (runtime.Object, error) {
			return o.obj.DeepCopyObject(), nil
		}, registry.UpdateOptions{WriteOptions: opts, ForceAllowCreate: true})
		if err != nil {
			return fmt.Errorf("kubernetes endpoints: %w", err)
		}
	}
	return nil
}

// advertiseAddress is the configured address, or the host's first global
// unicast IPv4 address.
func (b *bootstrapper) advertiseAddress() netip.Addr {
	if b.cfg.AdvertiseAddress.IsValid() {
		return b.cfg.AdvertiseAddress
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ip = ip.Unmap()
				if ip.Is4() && ip.IsGlobalUnicast() {
					return ip
				}
			}
		}
	}
	return netip.Addr{}
}

func ptr[T any](v T) *T { return &v }
