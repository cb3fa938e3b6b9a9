package podautoscaler

import (
	"context"
	"errors"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// defaultMetrics is what an HPA without metrics scales on.
var defaultMetrics = []autoscalingv2.MetricSpec{{
	Type: autoscalingv2.ResourceMetricSourceType,
	Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
		Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}},
}}

// replicasForMetrics proposes a replica count from every metric of hpa,
// the largest wins; -1 when none can be computed (the ScalingActive
// condition says why).
func (a *Controller) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale, current int32) (int32, string, []autoscalingv2.MetricStatus, error) {
	now := a.now()
	fail := func(reason string, err error) (int32, string, []autoscalingv2.MetricStatus, error) {
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, reason,
			fmt.Sprintf("the HPA was unable to compute the replica count: %v", err), now)
		return -1, "", nil, err
	}
	if scale.Status.Selector == "" {
		return fail("InvalidSelector", errors.New("selector is required"))
	}
	sel, err := labels.Parse(scale.Status.Selector)
	if err != nil {
		return fail("InvalidSelector", fmt.Errorf("couldn't convert selector into a corresponding internal selector object: %w", err))
	}
	pods, err := a.pods.Pods(hpa.Namespace).List(sel)
	if err != nil {
		return fail("FailedGetResourceMetric", err)
	}
	specs := hpa.Spec.Metrics
	if len(specs) == 0 {
		specs = defaultMetrics
	}
	var usage map[string]PodUsage
	usageErr := errors.New("no resource metrics source")
	if a.cfg.Metrics != nil {
		usage, usageErr = a.cfg.Metrics.PodUsage(ctx, hpa.Namespace, sel)
		if usageErr == nil && len(usage) == 0 {
			usageErr = errNoMetrics
		}
	}
	best, bestName := int32(-1), ""
	var statuses []autoscalingv2.MetricStatus
	var errs []error
	reason := ""
	for _, m := range specs {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			reason = "InvalidMetricSourceType"
			errs = append(errs, fmt.Errorf("metric type %q is not supported", m.Type))
			continue
		}
		res := m.Resource.Name
		replicas, status, err := a.resourceReplicas(current, m.Resource, pods, usage, usageErr)
		if err != nil {
			reason = "FailedGetResourceMetric"
			errs = append(errs, fmt.Errorf("failed to get %s utilization: %w", res, err))
			continue
		}
		statuses = append(statuses, status)
		if replicas > best {
			best = replicas
			bestName = fmt.Sprintf("%s resource", res)
			if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				bestName = fmt.Sprintf("%s resource utilization (percentage of request)", res)
			}
		}
	}
	// With some metrics invalid, scale only up: a missing figure must not
	// shrink the workload.
	if len(errs) == len(specs) || (len(errs) > 0 && best < current) {
		err := errors.Join(errs...)
		if len(errs) < len(specs) {
			err = fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", len(errs), len(specs), errs[0])
		}
		_, _, _, err = fail(reason, err)
		return -1, "", statuses, err
	}
	return best, bestName, statuses, nil
}

// resourceReplicas proposes replicas for one resource metric.
func (a *Controller) resourceReplicas(current int32, m *autoscalingv2.ResourceMetricSource, pods []*corev1.Pod, usage map[string]PodUsage, usageErr error) (int32, autoscalingv2.MetricStatus, error) {
	res := m.Name
	if res != corev1.ResourceCPU && res != corev1.ResourceMemory {
		return 0, autoscalingv2.MetricStatus{}, fmt.Errorf("resource %s has no metrics", res)
	}
	if usageErr != nil {
		return 0, autoscalingv2.MetricStatus{}, fmt.Errorf("unable to get metrics for resource %s: %w", res, usageErr)
	}
	status := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{Name: res}}
	switch m.Target.Type {
	case autoscalingv2.UtilizationMetricType:
		if m.Target.AverageUtilization == nil {
			return 0, status, errors.New("invalid resource metric source: neither a utilization target nor a value target was set")
		}
		replicas, percent, mean, err := a.calc.utilizationReplicas(current, *m.Target.AverageUtilization, pods, usage, res)
		if err != nil {
			return 0, status, err
		}
		status.Resource.Current = autoscalingv2.MetricValueStatus{AverageUtilization: &percent, AverageValue: quantity(mean, res)}
		return replicas, status, nil
	case autoscalingv2.AverageValueMetricType:
		if m.Target.AverageValue == nil {
			return 0, status, errors.New("invalid resource metric source: neither a utilization target nor a value target was set")
		}
		target := m.Target.AverageValue.Value()
		if res == corev1.ResourceCPU {
			target = m.Target.AverageValue.MilliValue()
		}
		replicas, mean, err := a.calc.averageReplicas(current, target, pods, usage, res)
		if err != nil {
			return 0, status, err
		}
		status.Resource.Current = autoscalingv2.MetricValueStatus{AverageValue: quantity(mean, res)}
		return replicas, status, nil
	}
	return 0, status, fmt.Errorf("target type %q is not supported for resource metrics", m.Target.Type)
}

// quantity renders a figure of res (milli-units for CPU).
func quantity(v int64, res corev1.ResourceName) *resource.Quantity {
	if res == corev1.ResourceCPU {
		return resource.NewMilliQuantity(v, resource.DecimalSI)
	}
	return resource.NewQuantity(v, resource.BinarySI)
}
