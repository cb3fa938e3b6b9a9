package podautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// errNoMetrics: no usable figure for any selected pod.
var errNoMetrics = errors.New("no metrics returned from resource metrics API")

// replicaCalc computes replica counts from pod figures as Kubernetes'
// replica calculator does.
type replicaCalc struct {
	tolerance                           float64
	cpuInitializationPeriod, readyDelay time.Duration
	now                                 func() time.Time
}

// groupedPods sorts pods by what their figures are worth.
type groupedPods struct {
	ready   int
	unready map[string]bool
	missing map[string]bool
	ignored map[string]bool
}

// group sorts pods for a resource: deleted and failed pods are ignored;
// pending ones, and for CPU ones not ready or still starting, are unready;
// ones without a figure are missing.
func (rc replicaCalc) group(pods []*corev1.Pod, usage map[string]PodUsage, res corev1.ResourceName) groupedPods {
	g := groupedPods{unready: map[string]bool{}, missing: map[string]bool{}, ignored: map[string]bool{}}
	now := rc.now()
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			g.ignored[p.Name] = true
			continue
		}
		if p.Status.Phase == corev1.PodPending {
			g.unready[p.Name] = true
			continue
		}
		m, ok := usage[p.Name]
		if !ok {
			g.missing[p.Name] = true
			continue
		}
		if res == corev1.ResourceCPU {
			cond := controllerutil.ReadyCondition(p)
			unready := cond == nil || p.Status.StartTime == nil
			if !unready {
				started := p.Status.StartTime.Time
				if started.Add(rc.cpuInitializationPeriod).After(now) {
					// Still starting: skip a sample from before it was
					// ready for a whole window.
					unready = cond.Status == corev1.ConditionFalse || m.Timestamp.Before(cond.LastTransitionTime.Add(m.Window))
				} else {
					// Never ready yet.
					unready = cond.Status == corev1.ConditionFalse && started.Add(rc.readyDelay).After(cond.LastTransitionTime.Time)
				}
			}
			if unready {
				g.unready[p.Name] = true
				continue
			}
		}
		g.ready++
	}
	return g
}

// value is a pod figure for res, in milli-units for CPU.
func value(u PodUsage, res corev1.ResourceName) int64 {
	if res == corev1.ResourceCPU {
		return u.CPUMilli
	}
	return u.MemoryBytes
}

// requests sums the containers' requests of res per pod, in the units of
// value.
func requests(pods []*corev1.Pod, res corev1.ResourceName) (map[string]int64, error) {
	out := map[string]int64{}
	for _, p := range pods {
		q, ok := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})[res]
		if !ok {
			return nil, fmt.Errorf("missing request for %s in pod %s/%s", res, p.Namespace, p.Name)
		}
		if res == corev1.ResourceCPU {
			out[p.Name] = q.MilliValue()
		} else {
			out[p.Name] = q.Value()
		}
	}
	return out, nil
}

// utilization is the used share of the requests of the pods with figures,
// in percent, its ratio to target, and the mean figure per pod.
func utilization(figures, reqs map[string]int64, target int32) (ratio float64, percent int32, mean int64, err error) {
	var used, requested, n int64
	for name, f := range figures {
		r, ok := reqs[name]
		if !ok {
			continue
		}
		used += f
		requested += r
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	percent = int32(used * 100 / requested)
	return float64(percent) / float64(target), percent, used / n, nil
}

// utilizationReplicas is the replica count that brings pods to target
// percent of their requests of res.
func (rc replicaCalc) utilizationReplicas(current int32, target int32, pods []*corev1.Pod, usage map[string]PodUsage, res corev1.ResourceName) (int32, int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, 0, errors.New("no pods returned by selector while calculating replica count")
	}
	g := rc.group(pods, usage, res)
	figures := map[string]int64{}
	for name, u := range usage {
		if !g.ignored[name] && !g.unready[name] {
			figures[name] = value(u, res)
		}
	}
	reqs, err := requests(pods, res)
	if err != nil {
		return 0, 0, 0, err
	}
	known := 0
	for name := range figures {
		if _, ok := reqs[name]; ok {
			known++
		}
	}
	if known == 0 {
		return 0, 0, 0, fmt.Errorf("%w: did not receive metrics for targeted pods (pods might be unready)", errNoMetrics)
	}
	ratio, percent, mean, err := utilization(figures, reqs, target)
	if err != nil {
		return 0, 0, 0, err
	}
	upWithUnready := len(g.unready) > 0 && ratio > 1
	if !upWithUnready && len(g.missing) == 0 {
		if math.Abs(1-ratio) <= rc.tolerance {
			return current, percent, mean, nil
		}
		return int32(math.Ceil(ratio * float64(g.ready))), percent, mean, nil
	}
	// Assume the worst for the direction of the change: missing pods use
	// their whole request when scaling down and nothing when scaling up;
	// unready pods nothing.
	for name := range g.missing {
		if ratio < 1 {
			figures[name] = reqs[name] * int64(max(100, target)) / 100
		} else {
			figures[name] = 0
		}
	}
	if upWithUnready {
		for name := range g.unready {
			figures[name] = 0
		}
	}
	newRatio, _, _, err := utilization(figures, reqs, target)
	if err != nil {
		return 0, 0, 0, err
	}
	return rc.adjusted(current, ratio, newRatio, len(figures)), percent, mean, nil
}

// averageReplicas is the replica count that brings the mean figure per
// pod to target (milli-units for CPU).
func (rc replicaCalc) averageReplicas(current int32, target int64, pods []*corev1.Pod, usage map[string]PodUsage, res corev1.ResourceName) (int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, errors.New("no pods returned by selector while calculating replica count")
	}
	g := rc.group(pods, usage, res)
	figures := map[string]int64{}
	for name, u := range usage {
		if !g.ignored[name] && !g.unready[name] {
			figures[name] = value(u, res)
		}
	}
	if len(figures) == 0 {
		return 0, 0, fmt.Errorf("%w: did not receive metrics for targeted pods (pods might be unready)", errNoMetrics)
	}
	mean := func() int64 {
		var sum int64
		for _, f := range figures {
			sum += f
		}
		return sum / int64(len(figures))
	}
	avg := mean()
	ratio := float64(avg) / float64(target)
	upWithUnready := len(g.unready) > 0 && ratio > 1
	if !upWithUnready && len(g.missing) == 0 {
		if math.Abs(1-ratio) <= rc.tolerance {
			return current, avg, nil
		}
		return int32(math.Ceil(ratio * float64(g.ready))), avg, nil
	}
	for name := range g.missing {
		if ratio < 1 {
			figures[name] = target
		} else {
			figures[name] = 0
		}
	}
	if upWithUnready {
		for name := range g.unready {
			figures[name] = 0
		}
	}
	newRatio := float64(mean()) / float64(target)
	return rc.adjusted(current, ratio, newRatio, len(figures)), avg, nil
}

// adjusted is the replica count after assuming figures for missing and
// unready pods: none if that flips the direction or lands in tolerance.
func (rc replicaCalc) adjusted(current int32, ratio, newRatio float64, pods int) int32 {
	if math.Abs(1-newRatio) <= rc.tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return current
	}
	n := int32(math.Ceil(newRatio * float64(pods)))
	if (newRatio < 1 && n > current) || (newRatio > 1 && n < current) {
		return current
	}
	return n
}
