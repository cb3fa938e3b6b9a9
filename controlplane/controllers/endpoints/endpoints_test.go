package endpoints_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/server/servertest"
)

var (
	srv *servertest.Server
	// ctor builds the controller under test.
	ctor = controllers.ConstructorFor(endpoints.New, endpoints.Config{})
)

func TestMain(m *testing.M) {
	servertest.Main(m, func(s *servertest.Server) error { srv = s; return nil })
}

// summary renders subsets as "ready|notready ports" lines for comparison.
func summary(ep *corev1.Endpoints) string {
	out := ""
	for _, s := range ep.Subsets {
		out += "["
		for _, a := range s.Addresses {
			out += a.IP + "(" + refName(a) + ") "
		}
		out += "|"
		for _, a := range s.NotReadyAddresses {
			out += " " + a.IP + "(" + refName(a) + ")"
		}
		out += " ;"
		for _, p := range s.Ports {
			out += fmt.Sprintf(" %s=%d", p.Name, p.Port)
		}
		out += "]"
	}
	return out
}

func refName(a corev1.EndpointAddress) string {
	if a.TargetRef == nil {
		return ""
	}
	return a.TargetRef.Name
}

func waitEndpoints(t *testing.T, c kubernetes.Interface, ns, name, want string) *corev1.Endpoints {
	t.Helper()
	var got *corev1.Endpoints
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		ep, err := c.CoreV1().Endpoints(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			last = "<none>"
			return want == "<none>", nil
		}
		if err != nil {
			return false, err
		}
		got, last = ep, summary(ep)
		return last == want, nil
	})
	if err != nil {
		t.Fatalf("endpoints %s/%s: got %q, want %q", ns, name, last, want)
	}
	return got
}

func TestEndpointsFollowReadinessAndTermination(t *testing.T) {
	c := srv.Client
	ctx := context.Background()
	ns := ctrltest.NewNamespace(t, c, "ep-")
	mgr := ctrltest.StartManager(t, srv.Config, ctor)

	_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9100), Protocol: corev1.ProtocolTCP},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := ctrltest.ServingPod(t, c, ns, "a", "10.42.0.10", 8080, true)
	b := ctrltest.ServingPod(t, c, ns, "b", "10.42.0.11", 8080, false)
	// The named port resolves per pod: c serves http on another port.
	ctrltest.ServingPod(t, c, ns, "c", "10.42.0.12", 8081, true)

	ep := waitEndpoints(t, c, ns, "web",
		"[10.42.0.10(a) | 10.42.0.11(b) ; http=8080 metrics=9100][10.42.0.12(c) | ; http=8081 metrics=9100]")
	if ep.Labels["tier"] != "front" {
		t.Errorf("endpoints labels %v, want the service's", ep.Labels)
	}

	b = ctrltest.SetReady(t, c, b, true)
	waitEndpoints(t, c, ns, "web",
		"[10.42.0.10(a) 10.42.0.11(b) | ; http=8080 metrics=9100][10.42.0.12(c) | ; http=8081 metrics=9100]")

	// A terminating pod leaves the endpoints at once.
	if err := c.CoreV1().Pods(ns).Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "web",
		"[10.42.0.11(b) | ; http=8080 metrics=9100][10.42.0.12(c) | ; http=8081 metrics=9100]")

	// A restart of the controller manager rewrites nothing that is right
	// and catches up with what changed while it was down.
	mgr.Stop()
	ctrltest.SetReady(t, c, b, false)
	mgr.Start()
	ep2 := waitEndpoints(t, c, ns, "web",
		"[| 10.42.0.11(b) ; http=8080 metrics=9100][10.42.0.12(c) | ; http=8081 metrics=9100]")
	time.Sleep(300 * time.Millisecond)
	ep3 := waitEndpoints(t, c, ns, "web", summary(ep2))
	if ep3.ResourceVersion != ep2.ResourceVersion {
		t.Errorf("endpoints rewritten with nothing changed: %s -> %s", ep2.ResourceVersion, ep3.ResourceVersion)
	}

	// Deleting the service deletes its endpoints, even while the
	// controller is down; Endpoints written by hand stay.
	if _, err := c.CoreV1().Endpoints(ns).Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.42.9.9"}}, Ports: []corev1.EndpointPort{{Port: 80}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr.Stop()
	if err := c.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mgr.Start()
	waitEndpoints(t, c, ns, "web", "<none>")
	waitEndpoints(t, c, ns, "manual", "[10.42.9.9() | ; =80]")
}

func TestEndpointsPublishNotReadyAddresses(t *testing.T) {
	c := srv.Client
	ctx := context.Background()
	ns := ctrltest.NewNamespace(t, c, "ep-")
	ctrltest.StartManager(t, srv.Config, ctor)
	_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "peers"},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 map[string]string{"app": "web"},
			Ports:                    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctrltest.ServingPod(t, c, ns, "a", "10.42.1.10", 8080, false)
	b := ctrltest.ServingPod(t, c, ns, "b", "10.42.1.11", 8080, true)
	ep := waitEndpoints(t, c, ns, "peers", "[10.42.1.10(a) 10.42.1.11(b) | ; http=8080]")
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless service's endpoints lack the %s label: %v", corev1.IsHeadlessService, ep.Labels)
	}
	// With unready addresses published, terminating pods stay too.
	if err := c.CoreV1().Pods(ns).Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	waitEndpoints(t, c, ns, "peers", "[10.42.1.10(a) 10.42.1.11(b) | ; http=8080]")
	if err := c.CoreV1().Pods(ns).Delete(ctx, b.Name, *metav1.NewDeleteOptions(0)); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "peers", "[10.42.1.10(a) | ; http=8080]")
}
