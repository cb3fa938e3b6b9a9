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

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
	"skiff.dev/skiff/dataplane/model"
)

// recorder is a model.Programmer that keeps what it was given and the
// size of each Update. While gate is set, Update says so on entered and
// waits for gate to close. fail fails every sync; failService fails only
// the services it names (as model.ServiceErrors).
type recorder struct {
	mu          sync.Mutex
	services    map[types.NamespacedName]model.Service
	replaced    int
	updates     [][]types.NamespacedName // the services of each Update
	fail        error
	failService map[string]error
	gate        chan struct{}
	entered     chan struct{}
}

func newRecorder() *recorder {
	return &recorder{services: make(map[types.NamespacedName]model.Service)}
}

func (r *recorder) Replace(_ context.Context, svcs []model.Service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replaced++
	r.services = make(map[types.NamespacedName]model.Service)
	for _, s := range svcs {
		r.services[s.Name] = s
	}
	return nil
}

func (r *recorder) Update(_ context.Context, upsert []model.Service, remove []types.NamespacedName) error {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []types.NamespacedName
	for _, s := range upsert {
		names = append(names, s.Name)
	}
	r.updates = append(r.updates, append(names, remove...))
	if r.fail != nil {
		return r.fail
	}
	var errs []error
	for _, s := range upsert {
		if err := r.failService[s.Name.Name]; err != nil {
			errs = append(errs, &model.ServiceError{Service: s.Name, Err: err})
			continue
		}
		r.services[s.Name] = s
	}
	for _, name := range remove {
		delete(r.services, name)
	}
	return errors.Join(errs...)
}

func (r *recorder) get(name string) (model.Service, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.services[types.NamespacedName{Namespace: "default", Name: name}]
	return s, ok
}

func (r *recorder) set(f func(r *recorder)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// startServer starts an apiserver. Nothing runs pods here, so the tests
// write EndpointSlices themselves, as the EndpointSlice controller would.
func startServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	return servertest.Start(t, func(c *server.Config) { c.DisableScheduler, c.DisableControllers = true, true }).Client
}

// startProxy runs a Proxy until the test ends and waits for its first sync.
func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := New(cfg)
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	select {
	case <-p.Synced():
	case err := <-done:
		t.Fatalf("proxy stopped before its first sync: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no first sync after 10s")
	}
	return p
}

func service(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
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

// TestBuildService checks the translation of API objects into the model.
func TestBuildService(t *testing.T) {
	svc := service("web", func(s *corev1.Service) {
		s.Spec.ClusterIP = "10.43.0.10"
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		s.Spec.HealthCheckNodePort = 32000
	})
	v6 := slice("web", "web-v6", ep{addr: "fd00::1", node: "node-a"})
	v6.AddressType = discoveryv1.AddressTypeIPv6
	m, ok := BuildService(svc, []*discoveryv1.EndpointSlice{
		slice("web", "web-1", ep{addr: "10.244.1.2", node: "node-a"}),
		slice("web", "web-2", ep{addr: "10.244.2.2", node: "node-b", ready: ptr.To(false), serving: ptr.To(true), term: ptr.To(true)}),
		v6,
	}, "node-a")
	if !ok {
		t.Fatal("a NodePort service was not carried")
	}
	if m.ClusterIP.String() != "10.43.0.10" || len(m.Ports) != 2 || m.Ports[0].NodePort != 30080 || m.Ports[1].Protocol != model.UDP {
		t.Fatalf("ports: %+v (SCTP is skipped)", m)
	}
	if !m.ExternalLocal || !m.InternalLocal || m.AffinityTimeout != time.Minute || m.HealthCheckNodePort != 32000 {
		t.Fatalf("policies: %+v", m)
	}
	if got := endpointsOf(m); got != "[10.244.1.2/r=true,s=true,t=false,local=true 10.244.2.2/r=false,s=true,t=true,local=false]" {
		t.Fatalf("endpoints %s (IPv6 slices are skipped)", got)
	}
	svc.Spec.SessionAffinityConfig = nil
	if m, _ := BuildService(svc, nil, "node-a"); m.AffinityTimeout != 3*time.Hour {
		t.Fatalf("default ClientIP affinity timeout %v, want 3h", m.AffinityTimeout)
	}
	ext := service("ext", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName })
	if _, ok := BuildService(ext, nil, "node-a"); ok {
		t.Fatal("an ExternalName service was carried")
	}
}

// programmedSlice waits until p carries s as returned by a write.
func programmedSlice(t *testing.T, p *Proxy, s *discoveryv1.EndpointSlice) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.EndpointSliceProgrammed(ctx, s.Namespace, s.Name, s.ResourceVersion); err != nil {
		t.Fatalf("slice %s at %s: %v", s.Name, s.ResourceVersion, err)
	}
}

// The proxy follows Services (with the cluster IPs and node ports the
// apiserver allocated) and EndpointSlices through a real apiserver.
func TestProxyFollowsTheAPI(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	svcs := client.CoreV1().Services("default")
	sl := client.DiscoveryV1().EndpointSlices("default")
	// Present before the start: programmed by the initial Replace.
	web, err := svcs.Create(ctx, service("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := sl.Create(ctx, slice("web", "web-1", ep{addr: "10.244.1.2", node: "node-a"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, service("ext", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "example.com"
		s.Spec.Ports = nil
	}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	p := startProxy(t, Config{Client: client, NodeName: "node-a", Programmer: rec})
	programmedSlice(t, p, first)

	m, ok := rec.get("web")
	if !ok || rec.replaced != 1 {
		t.Fatalf("initial sync: web=%v, %d Replace calls", ok, rec.replaced)
	}
	if m.ClusterIP.String() != web.Spec.ClusterIP || !m.ClusterIP.IsValid() {
		t.Fatalf("cluster IP %v, the apiserver allocated %s", m.ClusterIP, web.Spec.ClusterIP)
	}
	if len(m.Ports) != 2 || m.Ports[0].NodePort == 0 || m.Ports[0].NodePort != uint16(web.Spec.Ports[0].NodePort) {
		t.Fatalf("ports %+v, the apiserver allocated %+v", m.Ports, web.Spec.Ports)
	}
	if got := endpointsOf(m); got != "[10.244.1.2/r=true,s=true,t=false,local=true]" {
		t.Fatalf("web endpoints %s", got)
	}
	if _, ok := rec.get("ext"); ok {
		t.Fatal("an ExternalName service was programmed")
	}

	// A second slice with a terminating endpoint on another node.
	second, err := sl.Create(ctx, slice("web", "web-2", ep{addr: "10.244.2.2", node: "node-b", ready: ptr.To(false), serving: ptr.To(true), term: ptr.To(true)}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	programmedSlice(t, p, second)
	if m, _ := rec.get("web"); endpointsOf(m) != "[10.244.1.2/r=true,s=true,t=false,local=true 10.244.2.2/r=false,s=true,t=true,local=false]" {
		t.Fatalf("after the second slice: %s", endpointsOf(m))
	}
	if err := sl.Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EndpointSliceRemoved(ctx, "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := rec.get("web"); endpointsOf(m) != "[10.244.2.2/r=false,s=true,t=true,local=false]" {
		t.Fatalf("after the slice deletion: %s", endpointsOf(m))
	}

	// Health check node ports are for load balancers: type LoadBalancer
	// with externalTrafficPolicy Local has one. (skiff's apiserver does not
	// allocate it yet: the test picks it, as a user may.)
	web.Spec.Type = corev1.ServiceTypeLoadBalancer
	web.Spec.HealthCheckNodePort = 32000
	web.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	web.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	web.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
	web, err = svcs.Update(ctx, web, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the policy update", func() bool {
		m, _ := rec.get("web")
		return m.ExternalLocal && m.AffinityTimeout == time.Minute && m.HealthCheckNodePort == uint16(web.Spec.HealthCheckNodePort)
	})
	if err := svcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EndpointSliceRemoved(ctx, "default", "web-2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.get("web"); ok {
		t.Fatal("the deleted service is still programmed")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// EndpointSliceProgrammed returns only once the Programmer holds the
// slice, and the network programming histogram counts each change once.
func TestEndpointSliceProgrammed(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	rec := newRecorder()
	p := startProxy(t, Config{Client: client, NodeName: "node-a", Programmer: rec})
	if _, err := client.CoreV1().Services("default").Create(ctx, service("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := client.DiscoveryV1().EndpointSlices("default")
	s, err := sl.Create(ctx, slice("web", "web-1", ep{addr: "10.244.1.2", node: "node-a"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	programmedSlice(t, p, s)

	// Hold the Programmer: the update reaches the proxy but not the
	// dataplane, and the wait must not return.
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	rec.set(func(r *recorder) { r.gate, r.entered = gate, entered })
	s.Endpoints[0].Conditions.Ready = ptr.To(false)
	trigger := time.Now()
	s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: trigger.UTC().Format(time.RFC3339Nano)}
	if s, err = sl.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the update never reached the programmer")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = p.EndpointSliceProgrammed(short, "default", "web-1", s.ResourceVersion)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait while the programmer is held: %v, want a timeout", err)
	}
	rec.set(func(r *recorder) { r.gate = nil })
	close(gate)
	at, err := p.EndpointSliceProgrammed(ctx, "default", "web-1", s.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := rec.get("web"); endpointsOf(m) != "[10.244.1.2/r=false,s=false,t=false,local=true]" {
		t.Fatalf("programmed state when the wait returned: %s", endpointsOf(m))
	}
	if at.Before(trigger) {
		t.Fatalf("programmed at %v, before the change at %v", at, trigger)
	}
	// An older version is satisfied by the newer one.
	if _, err := p.EndpointSliceProgrammed(ctx, "default", "web-1", "1"); err != nil {
		t.Fatal(err)
	}

	// A sync of the same slice without a new trigger time (a Service
	// change) is not counted again.
	svc, err := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	if _, err := client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the service update", func() bool { m, _ := rec.get("web"); return m.AffinityTimeout != 0 })
	if n := histogramCount(t, p.Collector(), "skiff_dataplane_network_programming_duration_seconds"); n != 1 {
		t.Fatalf("network programming histogram counted %d changes, want 1", n)
	}
	if n := histogramCount(t, p.Collector(), "skiff_dataplane_sync_duration_seconds"); n < 3 {
		t.Fatalf("sync duration histogram counted %d syncs, want at least 3", n)
	}
}

func histogramCount(t *testing.T, c prometheus.Collector, name string) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A failed sync is retried and reported as a Warning event on the Service,
// where `kubectl describe service` shows it.
func TestProxyRetriesAndReportsFailures(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	t.Cleanup(broadcaster.Shutdown)
	events := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "skiff-dataplane"})
	rec := newRecorder()
	rec.fail = errors.New("bpf map full")
	startProxy(t, Config{Client: client, NodeName: "node-a", Programmer: rec, Recorder: events})
	if _, err := client.CoreV1().Services("default").Create(ctx, service("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sel := fields.Set{"involvedObject.kind": "Service", "involvedObject.name": "web"}.AsSelector().String()
	var got []corev1.Event
	eventually(t, "the event", func() bool {
		list, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		got = list.Items
		return len(got) > 0
	})
	if e := got[0]; e.Type != corev1.EventTypeWarning || e.Reason != "DataplaneSyncFailed" || e.Message != "node node-a: bpf map full" {
		t.Fatalf("event %s %s %q", e.Type, e.Reason, e.Message)
	}
	rec.set(func(r *recorder) { r.fail = nil })
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

// Changes that arrive while a sync runs are programmed together by the
// next one, and a service that fails in it does not hold back the others.
func TestProxyBatchesChanges(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	rec := newRecorder()
	p := startProxy(t, Config{Client: client, NodeName: "node-a", Programmer: rec})
	svcs := client.CoreV1().Services("default")
	sl := client.DiscoveryV1().EndpointSlices("default")
	// The sync of "first" is held while three more services arrive.
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the proxy's, which waits for the held sync
	rec.set(func(r *recorder) {
		r.gate, r.entered = gate, entered
		r.failService = map[string]error{"bad": errors.New("bpf map full")}
	})
	if _, err := svcs.Create(ctx, service("first"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first change never reached the programmer")
	}
	rec.set(func(r *recorder) { r.gate = nil })
	var good *discoveryv1.EndpointSlice
	for _, name := range []string{"a", "b", "bad"} {
		if _, err := svcs.Create(ctx, service(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s, err := sl.Create(ctx, slice(name, name+"-1", ep{addr: "10.244.1.2", node: "node-a"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if name == "b" {
			good = s
		}
	}
	eventually(t, "the changes queued", func() bool {
		for _, name := range []string{"a", "b", "bad"} {
			if _, err := p.slices.EndpointSlices("default").Get(name + "-1"); err != nil {
				return false
			}
		}
		return p.queue.Len() == 3
	})
	release()
	programmedSlice(t, p, good)
	rec.mu.Lock()
	updates := fmt.Sprint(rec.updates[:2])
	_, bad := rec.services[types.NamespacedName{Namespace: "default", Name: "bad"}]
	rec.mu.Unlock()
	if updates != "[[default/first] [default/a default/b default/bad]]" {
		t.Fatalf("updates %s, want the three queued services in one", updates)
	}
	if _, ok := rec.get("a"); !ok || bad {
		t.Fatalf("a programmed: %v, bad programmed: %v", ok, bad)
	}
	// The failed service alone is retried.
	rec.set(func(r *recorder) { r.failService = nil })
	eventually(t, "the retry", func() bool { _, ok := rec.get("bad"); return ok })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if last := fmt.Sprint(rec.updates[len(rec.updates)-1]); last != "[default/bad]" {
		t.Fatalf("retry %s, want default/bad alone", last)
	}
}

// With MinSyncPeriod, changes after a burst of syncBurst syncs wait for
// the period.
func TestProxyMinSyncPeriod(t *testing.T) {
	client := startServer(t)
	ctx := context.Background()
	rec := newRecorder()
	const period = 400 * time.Millisecond
	p := startProxy(t, Config{Client: client, NodeName: "node-a", Programmer: rec, MinSyncPeriod: period})
	sl := client.DiscoveryV1().EndpointSlices("default")
	if _, err := client.CoreV1().Services("default").Create(ctx, service("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var at []time.Time
	for i := range 3 {
		s, err := sl.Create(ctx, slice("web", fmt.Sprint("web-", i), ep{addr: fmt.Sprint("10.244.1.", i+2), node: "node-a"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		programmed, err := p.EndpointSliceProgrammed(ctx, s.Namespace, s.Name, s.ResourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, programmed)
	}
	// The full sync and the first change used the burst: the later changes
	// are spaced by the period (the limiter refills one sync per period).
	if d := at[2].Sub(start); d < period {
		t.Fatalf("three syncs after the full sync within %v, want at least %v apart", d, period)
	}
}
