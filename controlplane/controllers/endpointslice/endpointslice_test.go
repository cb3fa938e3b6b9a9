package endpointslice_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/endpointslice"
	"skiff.dev/skiff/controlplane/server/servertest"
)

var (
	srv *servertest.Server
	// ctor builds the controller under test.
	ctor = controllers.ConstructorFor(endpointslice.New, endpointslice.Config{})
)

func TestMain(m *testing.M) {
	servertest.Main(m, func(s *servertest.Server) error {
		srv = s
		_, err := s.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "zone-1"}},
		}, metav1.CreateOptions{})
		return err
	})
}

// summary renders a service's slices as sorted "pod ip flags ports" lines,
// flags being r(eady) s(erving) t(erminating) or '-'.
func summary(items []discovery.EndpointSlice) string {
	var lines []string
	for _, s := range items {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", *p.Name, *p.Port))
		}
		slices.Sort(ports)
		for _, e := range s.Endpoints {
			flags := []byte("---")
			if *e.Conditions.Ready {
				flags[0] = 'r'
			}
			if *e.Conditions.Serving {
				flags[1] = 's'
			}
			if *e.Conditions.Terminating {
				flags[2] = 't'
			}
			lines = append(lines, fmt.Sprintf("%s %s %s %s", e.TargetRef.Name, e.Addresses[0], flags, strings.Join(ports, ",")))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

func waitSlices(t testing.TB, c kubernetes.Interface, ns, svc, want string) []discovery.EndpointSlice {
	t.Helper()
	var got []discovery.EndpointSlice
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + svc})
		if err != nil {
			return false, err
		}
		got, last = list.Items, summary(list.Items)
		return last == want, nil
	})
	if err != nil {
		t.Fatalf("slices of %s/%s: got %q, want %q", ns, svc, last, want)
	}
	return got
}

func createService(t testing.TB, c kubernetes.Interface, ns, name string, publishNotReady bool) *corev1.Service {
	t.Helper()
	svc, err := c.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector:                 map[string]string{"app": "web"},
			PublishNotReadyAddresses: publishNotReady,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9100), Protocol: corev1.ProtocolTCP},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestSlicesFollowReadinessAndTermination(t *testing.T) {
	c := srv.Client
	ctx := context.Background()
	ns := ctrltest.NewNamespace(t, c, "eps-")
	mgr := ctrltest.StartManager(t, srv.Config, ctor)

	svc := createService(t, c, ns, "web", false)
	a := ctrltest.ServingPod(t, c, ns, "a", "10.42.0.10", 8080, true)
	b := ctrltest.ServingPod(t, c, ns, "b", "10.42.0.11", 8080, false)
	ctrltest.ServingPod(t, c, ns, "c", "10.42.0.12", 8081, true)

	got := waitSlices(t, c, ns, "web",
		"a 10.42.0.10 rs- http=8080,metrics=9100; b 10.42.0.11 --- http=8080,metrics=9100; c 10.42.0.12 rs- http=8081,metrics=9100")
	for _, s := range got {
		if s.Labels[discovery.LabelManagedBy] != endpointslice.ManagedBy {
			t.Errorf("slice %s managed-by %q", s.Name, s.Labels[discovery.LabelManagedBy])
		}
		if ref := metav1.GetControllerOf(&s); ref == nil || ref.UID != svc.UID {
			t.Errorf("slice %s not controlled by the service: %v", s.Name, s.OwnerReferences)
		}
		for _, e := range s.Endpoints {
			if e.NodeName == nil || *e.NodeName != "node-a" || e.Zone == nil || *e.Zone != "zone-1" {
				t.Errorf("endpoint %v: node %v zone %v", e.Addresses, e.NodeName, e.Zone)
			}
			if e.Hints != nil {
				t.Errorf("endpoint %v has topology hints %v", e.Addresses, e.Hints)
			}
		}
	}

	b = ctrltest.SetReady(t, c, b, true)
	waitSlices(t, c, ns, "web",
		"a 10.42.0.10 rs- http=8080,metrics=9100; b 10.42.0.11 rs- http=8080,metrics=9100; c 10.42.0.12 rs- http=8081,metrics=9100")

	// A terminating pod stays, serving but not ready, until it is gone.
	if err := c.CoreV1().Pods(ns).Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web",
		"a 10.42.0.10 -st http=8080,metrics=9100; b 10.42.0.11 rs- http=8080,metrics=9100; c 10.42.0.12 rs- http=8081,metrics=9100")

	// Restart the controller manager: nothing that is right is rewritten,
	// and what changed meanwhile is caught up with.
	mgr.Stop()
	before := waitSlices(t, c, ns, "web",
		"a 10.42.0.10 -st http=8080,metrics=9100; b 10.42.0.11 rs- http=8080,metrics=9100; c 10.42.0.12 rs- http=8081,metrics=9100")
	if err := c.CoreV1().Pods(ns).Delete(ctx, a.Name, *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	mgr.Start()
	after := waitSlices(t, c, ns, "web",
		"b 10.42.0.11 rs- http=8080,metrics=9100; c 10.42.0.12 rs- http=8081,metrics=9100")
	unchanged := map[string]string{}
	for _, s := range before {
		if !strings.Contains(summary([]discovery.EndpointSlice{s}), "10.42.0.10") {
			unchanged[s.Name] = s.ResourceVersion
		}
	}
	for _, s := range after {
		if rv, ok := unchanged[s.Name]; ok && rv != s.ResourceVersion {
			t.Errorf("slice %s rewritten across the restart with nothing changed", s.Name)
		}
	}
}

func TestSlicesPublishNotReadyAddresses(t *testing.T) {
	c := srv.Client
	ctx := context.Background()
	ns := ctrltest.NewNamespace(t, c, "eps-")
	ctrltest.StartManager(t, srv.Config, ctor)
	createService(t, c, ns, "peers", true)
	ctrltest.ServingPod(t, c, ns, "a", "10.42.1.10", 8080, false)
	b := ctrltest.ServingPod(t, c, ns, "b", "10.42.1.11", 8080, true)
	waitSlices(t, c, ns, "peers",
		"a 10.42.1.10 r-- http=8080,metrics=9100; b 10.42.1.11 rs- http=8080,metrics=9100")
	if err := c.CoreV1().Pods(ns).Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "peers",
		"a 10.42.1.10 r-- http=8080,metrics=9100; b 10.42.1.11 rst http=8080,metrics=9100")
}
