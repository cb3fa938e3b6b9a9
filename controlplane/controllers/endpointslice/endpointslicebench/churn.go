// Package endpointslicebench measures the Endpoints and EndpointSlice
// controllers while the readiness of many pods churns: Services in front
// of Deployments on a running cluster (controllers, a scheduler and
// nodes, real or simulated), every pod's readiness flipped by its node
// agent, and the time until both controllers' objects show it.
// QueueLatency records the controllers' work-queue latency meanwhile.
// `go test -bench QueueLatency` in package endpointslice and the
// skiff-bench harness use it.
package endpointslicebench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/controllers/endpointslice"
)

// Config describes the churn; zero fields take defaults.
type Config struct {
	// Namespace to work in, created if missing (default "churn"); the
	// benchmark owns everything in it.
	Namespace string
	// Services, each in front of a Deployment of PodsPerService replicas
	// (defaults 10 and 100: 1,000 pods).
	Services, PodsPerService int
	// Writers are the readiness changes in flight at once (default 16).
	Writers int
	// Timeout bounds the set-up, each flip and the clean-up (default 5
	// minutes).
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = "churn"
	}
	if c.Services <= 0 {
		c.Services = 10
	}
	if c.PodsPerService <= 0 {
		c.PodsPerService = 100
	}
	if c.Writers <= 0 {
		c.Writers = 16
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	return c
}

// maxEndpoints is the most addresses the Endpoints controller puts in one
// Endpoints object (as Kubernetes does); past it the object is truncated
// and could never show every pod.
const maxEndpoints = 1000

// Agent reports a pod's readiness as its node agent's readiness probe
// would; *simnode.Nodes is one.
type Agent interface {
	SetPodReady(ns, name string, ready bool) error
}

// Churn is the set-up workload: Services, Deployments and their pods.
type Churn struct {
	client kubernetes.Interface
	agent  Agent
	cfg    Config
	pods   []string
	state  *endpointState
	stop   context.CancelFunc
}

// Flip is what one change of every pod's readiness took.
type Flip struct {
	// Ready is the readiness the pods were given.
	Ready bool `json:"ready"`
	// Pods is how many pods changed.
	Pods int `json:"pods"`
	// Written is from the first readiness write to the last one answered.
	Written time.Duration `json:"written_ns"`
	// Converged is from the first write until every EndpointSlice and
	// Endpoints object showed the new readiness of every pod.
	Converged time.Duration `json:"converged_ns"`
}

// UpdatesPerSec is the rate of readiness writes the flip reached.
func (f Flip) UpdatesPerSec() float64 {
	if f.Written <= 0 {
		return 0
	}
	return float64(f.Pods) / f.Written.Seconds()
}

// Setup creates cfg.Services Services, each selecting a Deployment of
// cfg.PodsPerService replicas, and waits until every pod is a ready
// endpoint in both the EndpointSlices and the Endpoints. It removes what
// an earlier run left in the namespace first. Close removes it all.
func Setup(ctx context.Context, client kubernetes.Interface, agent Agent, cfg Config) (*Churn, error) {
	cfg = cfg.withDefaults()
	if cfg.PodsPerService > maxEndpoints {
		return nil, fmt.Errorf("%d pods per service: an Endpoints object holds at most %d", cfg.PodsPerService, maxEndpoints)
	}
	c := &Churn{client: client, agent: agent, cfg: cfg}
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.Background())
	c.stop = stop
	state, err := watchEndpoints(watchCtx, client, cfg.Namespace)
	if err != nil {
		stop()
		return nil, err
	}
	c.state = state
	if err := c.create(ctx); err != nil {
		stop()
		return nil, err
	}
	total := cfg.Services * cfg.PodsPerService
	if err := c.state.wait(ctx, cfg.Timeout, total, true); err != nil {
		stop()
		return nil, fmt.Errorf("endpoints of %d pods ready: %w", total, err)
	}
	pods, err := client.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		stop()
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		c.pods = append(c.pods, p.Name)
	}
	if len(c.pods) != total {
		stop()
		return nil, fmt.Errorf("%d pods in %s, want %d", len(c.pods), cfg.Namespace, total)
	}
	return c, nil
}

// Pods returns the number of pods that churn.
func (c *Churn) Pods() int { return len(c.pods) }

// Flip sets the readiness of every pod through the agent, cfg.Writers at
// once, and waits until the EndpointSlices and the Endpoints show it.
func (c *Churn) Flip(ctx context.Context, ready bool) (Flip, error) {
	f := Flip{Ready: ready, Pods: len(c.pods)}
	work := make(chan string)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range c.cfg.Writers {
		wg.Go(func() {
			for name := range work {
				if err := c.agent.SetPodReady(c.cfg.Namespace, name, ready); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, name := range c.pods {
		work <- name
	}
	close(work)
	wg.Wait()
	f.Written = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("set readiness of %d pods: %w", len(errs), err)
	}
	if err := c.state.wait(ctx, c.cfg.Timeout, len(c.pods), ready); err != nil {
		return f, fmt.Errorf("endpoints of %d pods ready=%v: %w", len(c.pods), ready, err)
	}
	f.Converged = time.Since(start)
	return f, nil
}

// Close deletes the Deployments, their ReplicaSets and pods, the Services
// and their EndpointSlices (no garbage collector is assumed), and waits
// until the pods are gone.
func (c *Churn) Close(ctx context.Context) error {
	c.stop()
	return c.cleanup(ctx)
}

// prepare makes the namespace, with the default service account pods
// need, and removes what an earlier run left.
func (c *Churn) prepare(ctx context.Context) error {
	ns := c.cfg.Namespace
	_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace: %w", err)
	}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account: %w", err)
	}
	return c.cleanup(ctx)
}

func (c *Churn) cleanup(ctx context.Context) error {
	ns, all := c.cfg.Namespace, metav1.ListOptions{}
	apps, core := c.client.AppsV1(), c.client.CoreV1()
	// Owners first, so that nothing recreates what is deleted after them.
	steps := []struct {
		what string
		del  func() error
	}{
		{"deployments", func() error { return apps.Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all) }},
		{"replica sets", func() error { return apps.ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all) }},
		{"pods", func() error { return core.Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all) }},
		{"services", func() error {
			list, err := core.Services(ns).List(ctx, all)
			for i := 0; err == nil && i < len(list.Items); i++ {
				err = core.Services(ns).Delete(ctx, list.Items[i].Name, metav1.DeleteOptions{})
			}
			return err
		}},
		// Their Services own them; this works without a garbage collector.
		{"endpoint slices", func() error {
			return c.client.DiscoveryV1().EndpointSlices(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all)
		}},
	}
	for _, s := range steps {
		if err := s.del(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", s.what, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, c.cfg.Timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil && len(pods.Items) == 0, err
	})
	if err != nil {
		return fmt.Errorf("pods of %s not gone after %v: %w", ns, c.cfg.Timeout, err)
	}
	return nil
}

// create makes the Services and their Deployments.
func (c *Churn) create(ctx context.Context) error {
	ns := c.cfg.Namespace
	for i := range c.cfg.Services {
		app := fmt.Sprintf("app-%d", i)
		sel := map[string]string{"app": app}
		_, err := c.client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: app},
			Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create service %s: %w", app, err)
		}
		_, err = c.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(c.cfg.PodsPerService)),
				Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: sel},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "app", Image: "churn:v1", Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
						TerminationGracePeriodSeconds: ptr.To[int64](1),
					},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create deployment %s: %w", app, err)
		}
	}
	return nil
}

// endpointState follows the namespace's EndpointSlices and Endpoints
// through a watch, so that waiting for them adds no polling to the API
// server being measured.
type endpointState struct {
	slices    cache.Indexer
	endpoints cache.Indexer
	changed   chan struct{}
}

func watchEndpoints(ctx context.Context, client kubernetes.Interface, ns string) (*endpointState, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	sliceInf := f.Discovery().V1().EndpointSlices().Informer()
	epInf := f.Core().V1().Endpoints().Informer()
	s := &endpointState{slices: sliceInf.GetIndexer(), endpoints: epInf.GetIndexer(), changed: make(chan struct{}, 1)}
	notify := func() {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{sliceInf, epInf} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("watch endpoints: %w", err)
		}
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watch %v: cache not synced", typ)
		}
	}
	go func() {
		<-ctx.Done()
		f.Shutdown()
	}()
	return s, nil
}

// wait returns once the EndpointSlices and the Endpoints list exactly
// total endpoints, all with readiness ready.
func (s *endpointState) wait(ctx context.Context, timeout time.Duration, total int, ready bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		seen := s.count(ready)
		if seen.slices == total && seen.slicesAll == total && seen.endpoints == total && seen.endpointsAll == total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v, slices: %d of %d endpoints as wanted; endpoints: %d of %d: %w",
				timeout, seen.slices, seen.slicesAll, seen.endpoints, seen.endpointsAll, ctx.Err())
		case <-s.changed:
		}
	}
}

type endpointCount struct {
	slices, slicesAll, endpoints, endpointsAll int
}

// count counts the endpoints the controllers publish, and those of them
// with readiness ready.
func (s *endpointState) count(ready bool) endpointCount {
	var n endpointCount
	for _, obj := range s.slices.List() {
		sl := obj.(*discovery.EndpointSlice)
		if sl.Labels[discovery.LabelManagedBy] != endpointslice.ManagedBy {
			continue
		}
		for _, e := range sl.Endpoints {
			n.slicesAll++
			if ptr.Deref(e.Conditions.Ready, false) == ready {
				n.slices++
			}
		}
	}
	for _, obj := range s.endpoints.List() {
		ep := obj.(*corev1.Endpoints)
		if ep.Labels[endpoints.ManagedByLabel] != endpoints.ManagedBy {
			continue
		}
		for _, sub := range ep.Subsets {
			n.endpointsAll += len(sub.Addresses) + len(sub.NotReadyAddresses)
			if ready {
				n.endpoints += len(sub.Addresses)
			} else {
				n.endpoints += len(sub.NotReadyAddresses)
			}
		}
	}
	return n
}
