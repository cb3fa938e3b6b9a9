package server

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/daemonset"
	"skiff.dev/skiff/controlplane/controllers/deployment"
	"skiff.dev/skiff/controlplane/controllers/disruption"
	"skiff.dev/skiff/controlplane/controllers/endpoints"
	"skiff.dev/skiff/controlplane/controllers/endpointslice"
	"skiff.dev/skiff/controlplane/controllers/garbagecollector"
	"skiff.dev/skiff/controlplane/controllers/job"
	"skiff.dev/skiff/controlplane/controllers/namespace"
	"skiff.dev/skiff/controlplane/controllers/nodeipam"
	"skiff.dev/skiff/controlplane/controllers/nodelifecycle"
	"skiff.dev/skiff/controlplane/controllers/podautoscaler"
	"skiff.dev/skiff/controlplane/controllers/replicaset"
	"skiff.dev/skiff/controlplane/controllers/resourcequota"
	"skiff.dev/skiff/controlplane/controllers/serviceaccount"
	"skiff.dev/skiff/controlplane/controllers/statefulset"
	"skiff.dev/skiff/controlplane/resourcemetrics"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/scheduler/pipeline"
)

// ControllerConstructors lists every controller the controller manager
// runs, in start order; metrics feeds the autoscaler (nil: it reports that
// it has none).
func ControllerConstructors(cfg Config, metrics podautoscaler.MetricsSource) []controllers.Constructor {
	return []controllers.Constructor{
		controllers.ConstructorFor(serviceaccount.New, serviceaccount.Config{}),
		func(c *controllers.Context) (controllers.Controller, error) {
			return namespace.New(c, namespace.Config{Metadata: c.Metadata})
		},
		func(c *controllers.Context) (controllers.Controller, error) {
			return garbagecollector.New(c, garbagecollector.Config{Metadata: c.Metadata})
		},
		nodeipam.Constructor(nodeipam.Config{ClusterCIDR: cfg.ClusterCIDR}),
		nodelifecycle.Constructor(nodelifecycle.Config{}),
		controllers.ConstructorFor(endpoints.New, endpoints.Config{}),
		controllers.ConstructorFor(endpointslice.New, endpointslice.Config{}),
		replicaset.Constructor(replicaset.Config{}),
		replicaset.ReplicationManagerConstructor(replicaset.Config{}),
		deployment.Constructor(deployment.Config{}),
		daemonset.Constructor(daemonset.Config{}),
		statefulset.Constructor(statefulset.Config{}),
		controllers.ConstructorFor(job.New, job.Config{}),
		controllers.ConstructorFor(resourcequota.New, resourcequota.Config{}),
		controllers.ConstructorFor(disruption.New, disruption.Config{}),
		controllers.ConstructorFor(podautoscaler.New, podautoscaler.Config{Metrics: metrics}),
	}
}

// SchedulerConfig is the scheduler's configuration inside a server (or in
// `skiff scheduler`): leader-elected, with the usage weight of cfg.
func SchedulerConfig(cs kubernetes.Interface, cfg Config) scheduler.Config {
	sc := scheduler.Config{Client: cs, Logger: cfg.Logger.With("component", "scheduler"),
		LeaderElection: scheduler.LeaderElection{Enabled: true}}
	if cfg.ObservedUsageWeight != 0 {
		sc.Weights = pipeline.DefaultWeights()
		sc.Weights.ObservedUsage = cfg.ObservedUsageWeight
	}
	return sc
}

// startComponents runs the scheduler and the controller manager over a
// loopback client, each under its own leader election, with run.
func (s *Server) startComponents(ctx context.Context, run func(func() error)) error {
	if s.cfg.DisableScheduler && s.cfg.DisableControllers {
		return nil
	}
	rc := s.AdminConfig()
	// The server's own parts are not rate-limited on their side: a bind and
	// an event per pod at 500 requests/s would cap scheduling at 250 pods/s.
	rc.QPS, rc.Burst = -1, 0
	rc.UserAgent = "skiff-server"
	UseProtobuf(rc)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	if !s.cfg.DisableScheduler {
		sc := SchedulerConfig(cs, s.cfg)
		sc.Usage = s.usage // in-process: no API call per node
		sched, err := scheduler.New(sc)
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		run(func() error { return sched.Start(ctx) })
	}
	if !s.cfg.DisableControllers {
		md, err := metadata.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("loopback metadata client: %w", err)
		}
		list := s.cfg.Controllers
		if list == nil {
			list = ControllerConstructors(s.cfg, StoreMetrics{Store: s.usage})
		}
		m := controllers.NewManager(controllers.ManagerConfig{
			Client: cs, Metadata: md, Controllers: list, LeaderElection: true,
			Logger: s.cfg.Logger.With("component", "controller-manager"),
		})
		run(func() error { return m.Start(ctx) })
	}
	return nil
}

// StoreMetrics feeds the autoscaler from the server's own resource metrics
// store.
type StoreMetrics struct{ Store *resourcemetrics.Store }

// PodUsage implements podautoscaler.MetricsSource.
func (m StoreMetrics) PodUsage(_ context.Context, ns string, sel labels.Selector) (map[string]podautoscaler.PodUsage, error) {
	return podUsage(m.Store.Pods(ns, sel)), nil
}

// APIMetrics feeds the autoscaler through the resource metrics API, for a
// controller manager outside the server.
type APIMetrics struct{ Client metricsclient.Interface }

// PodUsage implements podautoscaler.MetricsSource.
func (m APIMetrics) PodUsage(ctx context.Context, ns string, sel labels.Selector) (map[string]podautoscaler.PodUsage, error) {
	list, err := m.Client.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("pod metrics of %s: %w", ns, err)
	}
	return podUsage(list.Items), nil
}

// podUsage sums each pod's containers.
func podUsage(pods []metricsv1beta1.PodMetrics) map[string]podautoscaler.PodUsage {
	out := make(map[string]podautoscaler.PodUsage, len(pods))
	for _, p := range pods {
		u := podautoscaler.PodUsage{Timestamp: p.Timestamp.Time, Window: p.Window.Duration}
		for _, c := range p.Containers {
			u.CPUMilli += c.Usage.Cpu().MilliValue()
			u.MemoryBytes += c.Usage.Memory().Value()
		}
		out[p.Name] = u
	}
	return out
}
