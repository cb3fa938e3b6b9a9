package endpoints_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/server/servertest"
)

var srv *servertest.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "endpoints-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		cfg, err := servertest.Config(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv, err = servertest.Launch(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer srv.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

// startManager runs the endpoints controller under a controller manager
// until the returned stop is called (or the test ends).
func startManager(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mgr := controllers.NewManager(controllers.ManagerConfig{
		Client: srv.Client,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Controllers: []controllers.Constructor{func(c *controllers.Context) (controllers.Controller, error) {
			return endpoints.New(c, endpoints.Config{})
		}},
	})
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func newNamespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ep-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createPod creates a pod bound to a node whose container serves httpPort
// under the name "http", and gives it the IP and readiness a node agent
// would report.
func createPod(t *testing.T, c kubernetes.Interface, ns, name, ip string, httpPort int32, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: "node-a",
			Containers: []corev1.Container{{Name: "c", Image: "img", Ports: []corev1.ContainerPort{
				{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return setReady(t, c, pod, ready)
}

func setReady(t *testing.T, c kubernetes.Interface, pod *corev1.Pod, ready bool) *corev1.Pod {
	t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	out, err := c.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
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
	ns := newNamespace(t, c)
	stop := startManager(t)

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
	a := createPod(t, c, ns, "a", "10.42.0.10", 8080, true)
	b := createPod(t, c, ns, "b", "10.42.0.11", 8080, false)
	// The named port resolves per pod: c serves http on another port.
	createPod(t, c, ns, "c", "10.42.0.12", 8081, true)

	ep := waitEndpoints(t, c, ns, "web",
		"[10.42.0.10(a) | 10.42.0.11(b) ; http=8080 metrics=9100][10.42.0.12(c) | ; http=8081 metrics=9100]")
	if ep.Labels["tier"] != "front" {
		t.Errorf("endpoints labels %v, want the service's", ep.Labels)
	}

	b = setReady(t, c, b, true)
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
	stop()
	setReady(t, c, b, false)
	stop = startManager(t)
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
	stop()
	if err := c.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startManager(t)
	waitEndpoints(t, c, ns, "web", "<none>")
	waitEndpoints(t, c, ns, "manual", "[10.42.9.9() | ; =80]")
}

func TestEndpointsPublishNotReadyAddresses(t *testing.T) {
	c := srv.Client
	ctx := context.Background()
	ns := newNamespace(t, c)
	startManager(t)
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
	createPod(t, c, ns, "a", "10.42.1.10", 8080, false)
	b := createPod(t, c, ns, "b", "10.42.1.11", 8080, true)
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
