package podautoscaler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil/ctrltest"
	"skiff.dev/skiff/controlplane/controllers/deployment"
	"skiff.dev/skiff/controlplane/controllers/podautoscaler"
	"skiff.dev/skiff/controlplane/controllers/replicaset"
	"skiff.dev/skiff/test/simnode"
)

// injected plays the resource-metrics API: every running pod uses the
// CPU the test sets, or there are no figures at all.
type injected struct {
	client kubernetes.Interface
	mu     sync.Mutex
	on     bool
	cpu    int64
}

func (m *injected) set(on bool, cpuMilli int64) {
	m.mu.Lock()
	m.on, m.cpu = on, cpuMilli
	m.mu.Unlock()
}

func (m *injected) PodUsage(ctx context.Context, ns string, sel labels.Selector) (map[string]podautoscaler.PodUsage, error) {
	m.mu.Lock()
	on, cpu := m.on, m.cpu
	m.mu.Unlock()
	if !on {
		return nil, nil
	}
	pods, err := m.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	out := map[string]podautoscaler.PodUsage{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			out[p.Name] = podautoscaler.PodUsage{CPUMilli: cpu, MemoryBytes: 10 << 20, Timestamp: time.Now()}
		}
	}
	return out, nil
}

func condition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range hpa.Status.Conditions {
		if c.Type == t {
			return fmt.Sprintf("%s/%s", c.Status, c.Reason)
		}
	}
	return "none"
}

func TestScaleOnInjectedMetrics(t *testing.T) {
	metrics := &injected{}
	e := ctrltest.Start(t, simnode.Config{Count: 2},
		deployment.Constructor(deployment.Config{}),
		replicaset.Constructor(replicaset.Config{}),
		controllers.ConstructorFor(podautoscaler.New, podautoscaler.Config{Metrics: metrics, SyncPeriod: 100 * time.Millisecond, DownscaleStabilization: time.Second}))
	metrics.client = e.Client
	ns := e.Namespace("hpa")
	ctx := context.Background()
	c := e.Client
	lbl := map[string]string{"app": "web"}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: "img", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	state := func() (*appsv1.Deployment, *autoscalingv2.HorizontalPodAutoscaler, string, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return nil, nil, "", err
		}
		h, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return nil, nil, "", err
		}
		return d, h, fmt.Sprintf("replicas=%d desired=%d active=%s limited=%s", *d.Spec.Replicas, h.Status.DesiredReplicas,
			condition(h, autoscalingv2.ScalingActive), condition(h, autoscalingv2.ScalingLimited)), nil
	}
	replicasAre := func(want int32, extra func(*autoscalingv2.HorizontalPodAutoscaler) bool) func() (bool, string, error) {
		return func() (bool, string, error) {
			d, h, seen, err := state()
			if err != nil {
				return false, "", err
			}
			return *d.Spec.Replicas == want && (extra == nil || extra(h)), seen, nil
		}
	}

	// No metrics: the HPA says so and leaves the deployment alone.
	ctrltest.Eventually(t, 15*time.Second, "no-metrics condition", replicasAre(1, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return condition(h, autoscalingv2.ScalingActive) == "False/FailedGetResourceMetric"
	}))
	ctrltest.Never(t, 500*time.Millisecond, "scaled without metrics", func() (bool, string, error) {
		d, _, seen, err := state()
		if err != nil {
			return false, "", err
		}
		return *d.Spec.Replicas != 1, seen, nil
	})

	// Every pod at 100% of its request, twice the target: up to the
	// maximum, in steps the scale-up policy allows.
	metrics.set(true, 100)
	ctrltest.Eventually(t, 30*time.Second, "scale up to the maximum", replicasAre(5, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
		return condition(h, autoscalingv2.ScalingLimited) == "True/TooManyReplicas" &&
			condition(h, autoscalingv2.ScalingActive) == "True/ValidMetricFound"
	}))
	_, h, _, err := state()
	if err != nil {
		t.Fatal(err)
	}
	if h.Status.LastScaleTime == nil || len(h.Status.CurrentMetrics) != 1 ||
		ptr.Deref(h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization, 0) != 100 {
		t.Errorf("status: lastScaleTime %v, currentMetrics %+v", h.Status.LastScaleTime, h.Status.CurrentMetrics)
	}

	// A restart of the controller manager changes nothing that is right.
	e.Manager.Restart()
	ctrltest.Never(t, time.Second, "replicas moved after restart", func() (bool, string, error) {
		d, _, seen, err := state()
		if err != nil {
			return false, "", err
		}
		return *d.Spec.Replicas != 5, seen, nil
	})

	// Load drops to 20%: down to 2 once the 1s stabilization window has
	// passed, and not before.
	metrics.set(true, 20)
	ctrltest.Never(t, 500*time.Millisecond, "scaled down inside the stabilization window", func() (bool, string, error) {
		d, _, seen, err := state()
		if err != nil {
			return false, "", err
		}
		return *d.Spec.Replicas != 5, seen, nil
	})
	ctrltest.Eventually(t, 20*time.Second, "scale down", replicasAre(2, nil))
	ctrltest.Eventually(t, 20*time.Second, "pods follow", func() (bool, string, error) {
		_, active, _, err := e.CountPods(ns, labels.SelectorFromSet(lbl))
		return active == 2, fmt.Sprintf("%d active pods", active), err
	})
}
