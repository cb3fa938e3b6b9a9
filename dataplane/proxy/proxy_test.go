package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/dataplane/internal/k8stest"
	"skiff.dev/skiff/dataplane/model"
)

// recorder is a model.Programmer that keeps what it was given.
type recorder struct {
	mu       sync.Mutex
	services map[types.NamespacedName]model.Service
	replaced int
	fail     error
}

func (r *recorder) Replace(svcs []model.Service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replaced++
	r.services = make(map[types.NamespacedName]model.Service)
	for _, s := range svcs {
		r.services[s.Name] = s
	}
	return nil
}

func (r *recorder) Upsert(s model.Service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.services[s.Name] = s
	return nil
}

func (r *recorder) Delete(name types.NamespacedName) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.services, name)
	return nil
}

func (r *recorder) get(name string) (model.Service, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.services[types.NamespacedName{Namespace: "default", Name: name}]
	return s, ok
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func service(name, ip string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeNodePort,
			ClusterIP: ip,
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080},
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
				{Name: "sctp", Protocol: corev1.ProtocolSCTP, Port: 9},
			},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

type ep struct {
	addr, node           string
	ready, serving, term *bool
}

func slice(svc, name string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(corev1.ProtocolUDP)},
		},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.addr},
			NodeName:   ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.term},
		})
	}
	return s
}

func endpointsOf(s model.Service) string {
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, fmt.Sprintf("%s/r=%v,s=%v,t=%v,local=%v", e.Addr, e.Ready, e.Serving, e.Terminating, e.Local))
	}
	return fmt.Sprint(out)
}

func TestProxyFollowsServicesAndSlices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Present before start: programmed by the initial Replace.
	client := k8stest.NewClientset(
		service("web", "10.96.0.10"),
		slice("web", "web-1", ep{addr: "10.244.1.2", node: "node-a"}),
		service("ext", "", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}),
	)
	rec := &recorder{}
	p := New(Config{Client: client, NodeName: "node-a", Programmer: rec})
	done := make(chan error)
	go func() { done <- p.Start(ctx) }()
	<-p.Synced()
	client.WaitWatched(t, "services", "endpointslices")

	web, ok := rec.get("web")
	if !ok || rec.replaced != 1 {
		t.Fatalf("initial sync: web=%v, %d Replace calls", ok, rec.replaced)
	}
	if web.ClusterIP.String() != "10.96.0.10" || len(web.Ports) != 2 || web.Ports[0].NodePort != 30080 {
		t.Fatalf("web model: %+v (SCTP ports are skipped)", web)
	}
	if got := endpointsOf(web); got != "[10.244.1.2/r=true,s=true,t=false,local=true]" {
		t.Fatalf("web endpoints %s", got)
	}
	if _, ok := rec.get("ext"); ok {
		t.Fatal("an ExternalName service was programmed")
	}

	sl := client.DiscoveryV1().EndpointSlices("default")
	// A second slice with a terminating endpoint on another node.
	if _, err := sl.Create(ctx, slice("web", "web-2", ep{addr: "10.244.2.2", node: "node-b", ready: ptr.To(false), serving: ptr.To(true), term: ptr.To(true)}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second slice", func() bool {
		s, _ := rec.get("web")
		return endpointsOf(s) == "[10.244.1.2/r=true,s=true,t=false,local=true 10.244.2.2/r=false,s=true,t=true,local=false]"
	})
	if err := sl.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slice deletion", func() bool {
		s, _ := rec.get("web")
		return len(s.Endpoints) == 1
	})

	svcs := client.CoreV1().Services("default")
	upd := service("web", "10.96.0.10", func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		s.Spec.HealthCheckNodePort = 32000
	})
	if _, err := svcs.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the policy update", func() bool {
		s, _ := rec.get("web")
		return s.ExternalLocal && s.InternalLocal && s.AffinityTimeout == time.Minute && s.HealthCheckNodePort == 32000
	})
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the service deletion", func() bool { _, ok := rec.get("web"); return !ok })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A failed sync is retried and reported as a Warning event on the Service.
func TestProxyRetriesAndReportsFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := k8stest.NewClientset()
	rec := &recorder{fail: errors.New("bpf map full")}
	events := record.NewFakeRecorder(10)
	p := New(Config{Client: client, NodeName: "node-a", Programmer: rec, Recorder: events})
	go p.Start(ctx)
	<-p.Synced()
	client.WaitWatched(t, "services")
	if _, err := client.CoreV1().Services("default").Create(ctx, service("web", "10.96.0.10"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events.Events:
		if e != "Warning DataplaneSyncFailed node node-a: bpf map full" {
			t.Fatalf("event %q", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for a failed sync")
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	eventually(t, "the retry", func() bool { _, ok := rec.get("web"); return ok })
}

func TestHealthCheckNodePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	h := NewHealthServer("", nil)
	defer h.Close()
	svc := model.Service{
		Name:                types.NamespacedName{Namespace: "default", Name: "web"},
		Ports:               []model.Port{{Name: "http", Protocol: model.TCP, Port: 80, NodePort: 30080}},
		ExternalLocal:       true,
		HealthCheckNodePort: port,
	}
	get := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		return resp.StatusCode, m
	}
	h.Upsert(svc)
	if code, body := get(); code != http.StatusServiceUnavailable || body["localEndpoints"] != float64(0) {
		t.Fatalf("without local endpoints: %d %v", code, body)
	}
	svc.Endpoints = []model.Endpoint{{Addr: mustAddr("10.244.1.2"), Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: true, Serving: true, Local: true}}
	h.Upsert(svc)
	if code, body := get(); code != http.StatusOK || body["localEndpoints"] != float64(1) {
		t.Fatalf("with a local endpoint: %d %v", code, body)
	}
	h.Delete(svc.Name)
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Fatal("health check still served after the service was deleted")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
