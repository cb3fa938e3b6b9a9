package resourcemetrics_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"skiff.dev/skiff/controlplane/resourcemetrics"
	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/controlplane/server/servertest"
)

func usage(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

// An agent's reports are served through metrics.k8s.io as kubectl top and
// the autoscaler read them, filtered by labels, and dropped once stale.
func TestReportAndRead(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.MetricsMaxAge = 2 * time.Second })
	ctx := context.Background()
	mc := metricsclient.NewForConfigOrDie(s.Config)
	rc := mc.MetricsV1beta1().RESTClient()

	node := &metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
		Timestamp: metav1.Now(), Window: metav1.Duration{Duration: 15 * time.Second}, Usage: usage("1500m", "2Gi")}
	if err := rc.Put().Resource("nodes").Name("n1").Body(node).Do(ctx).Error(); err != nil {
		t.Fatalf("report node: %v", err)
	}
	pods := &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}}, Timestamp: metav1.Now(),
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: usage("200m", "100Mi")}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-1", Labels: map[string]string{"app": "db"}}, Timestamp: metav1.Now(),
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: usage("300m", "1Gi")}}},
	}}
	if err := rc.Put().Resource("nodes").Name("n1").SubResource("pods").Body(pods).Do(ctx).Error(); err != nil {
		t.Fatalf("report pods: %v", err)
	}

	got, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil || got.Usage.Cpu().MilliValue() != 1500 {
		t.Fatalf("node metrics: %v %+v", err, got)
	}
	nodes, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "zone=b"})
	if err != nil || len(nodes.Items) != 0 {
		t.Fatalf("label-filtered node list: %v %+v", err, nodes)
	}
	web, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(web.Items) != 1 || web.Items[0].Name != "web-1" {
		t.Fatalf("pod metrics by label: %v %+v", err, web)
	}
	if _, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "db-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod metrics get: %v", err)
	}

	// The scheduler's usage source outside the server reads the same.
	p := resourcemetrics.NewPoller(mc, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pctx, cancel := context.WithCancel(ctx)
	go p.Start(pctx)
	defer cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cpu, mem, ok := p.NodeUsage("n1"); ok {
			if cpu != 1500 || mem != 2<<30 {
				t.Fatalf("poller usage %d %d", cpu, mem)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("poller has no usage for n1")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Stale figures go away.
	time.Sleep(2500 * time.Millisecond)
	if _, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "n1", metav1.GetOptions{}); err == nil {
		t.Fatal("node metrics older than MetricsMaxAge are still served")
	}
	if l, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Fatalf("stale pod metrics: %v %d", err, len(l.Items))
	}
	// Discovery lists the group, as kubectl top needs.
	rl, err := s.Client.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	if err != nil || len(rl.APIResources) == 0 {
		t.Fatalf("discovery: %v %+v", err, rl)
	}
}
