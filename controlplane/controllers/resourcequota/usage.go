package resourcequota

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	resourcehelper "k8s.io/component-helpers/resource"
)

// legacyCounts are the object counts with names of their own.
var legacyCounts = map[corev1.ResourceName]schema.GroupResource{
	corev1.ResourcePods:                   {Resource: "pods"},
	corev1.ResourceServices:               {Resource: "services"},
	corev1.ResourceConfigMaps:             {Resource: "configmaps"},
	corev1.ResourceSecrets:                {Resource: "secrets"},
	corev1.ResourcePersistentVolumeClaims: {Resource: "persistentvolumeclaims"},
	corev1.ResourceReplicationControllers: {Resource: "replicationcontrollers"},
	corev1.ResourceQuotas:                 {Resource: "resourcequotas"},
}

// usage computes what q's namespace uses of each resource q limits.
func (rq *Controller) usage(q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	ns := q.Namespace
	used := corev1.ResourceList{}
	scoped := len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil
	var pods []*corev1.Pod
	podsLoaded := false
	livePods := func() ([]*corev1.Pod, error) {
		if podsLoaded {
			return pods, nil
		}
		podsLoaded = true
		objs, err := rq.list(schema.GroupResource{Resource: "pods"}, ns)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if counts(p, now) && matchesScopes(q, p) {
				pods = append(pods, p)
			}
		}
		return pods, nil
	}
	for name := range q.Spec.Hard {
		gr, isCount := countedResource(name)
		switch {
		case gr == (schema.GroupResource{Resource: "pods"}):
			p, err := livePods()
			if err != nil {
				return nil, err
			}
			used[name] = *resource.NewQuantity(int64(len(p)), resource.DecimalSI)
		case isComputeResource(name):
			p, err := livePods()
			if err != nil {
				return nil, err
			}
			used[name] = podsSum(p, name)
		case scoped:
			// A scoped quota tracks pods only.
		case isCount && rq.listers[gr] != nil:
			objs, err := rq.list(gr, ns)
			if err != nil {
				return nil, err
			}
			used[name] = *resource.NewQuantity(int64(len(objs)), resource.DecimalSI)
		case name == corev1.ResourceServicesNodePorts || name == corev1.ResourceServicesLoadBalancers:
			objs, err := rq.list(schema.GroupResource{Resource: "services"}, ns)
			if err != nil {
				return nil, err
			}
			used[name] = *resource.NewQuantity(serviceUsage(objs, name), resource.DecimalSI)
		case name == corev1.ResourceRequestsStorage:
			objs, err := rq.list(schema.GroupResource{Resource: "persistentvolumeclaims"}, ns)
			if err != nil {
				return nil, err
			}
			sum := resource.NewQuantity(0, resource.BinarySI)
			for _, o := range objs {
				if s, ok := o.(*corev1.PersistentVolumeClaim).Spec.Resources.Requests[corev1.ResourceStorage]; ok {
					sum.Add(s)
				}
			}
			used[name] = *sum
		}
	}
	return used, nil
}

// list lists the objects of gr in ns.
func (rq *Controller) list(gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	l, ok := rq.listers[gr]
	if !ok {
		return nil, nil
	}
	objs, err := l.ByNamespace(ns).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", gr, ns, err)
	}
	return objs, nil
}

// countedResource parses an object count: a legacy name (pods) or
// count/<resource>[.<group>].
func countedResource(name corev1.ResourceName) (schema.GroupResource, bool) {
	if gr, ok := legacyCounts[name]; ok {
		return gr, true
	}
	rest, ok := strings.CutPrefix(string(name), "count/")
	if !ok {
		return schema.GroupResource{}, false
	}
	res, group, _ := strings.Cut(rest, ".")
	return schema.GroupResource{Group: group, Resource: res}, true
}

// isComputeResource tells the pod resources quota sums: requests.X,
// limits.X, and the bare cpu, memory, ephemeral-storage and hugepages-*
// (requests).
func isComputeResource(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, "requests.") {
		return name != corev1.ResourceRequestsStorage
	}
	return strings.HasPrefix(s, "limits.") || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		slices.Contains([]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}, name)
}

// podsSum adds up the requests (or limits) of pods for a compute
// resource name.
func podsSum(pods []*corev1.Pod, name corev1.ResourceName) resource.Quantity {
	s := string(name)
	limits := strings.HasPrefix(s, "limits.")
	res := corev1.ResourceName(strings.TrimPrefix(strings.TrimPrefix(s, "limits."), "requests."))
	sum := resource.Quantity{}
	for _, p := range pods {
		var list corev1.ResourceList
		if limits {
			list = resourcehelper.PodLimits(p, resourcehelper.PodResourcesOptions{})
		} else {
			list = resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		}
		if v, ok := list[res]; ok {
			sum.Add(v)
		}
	}
	if sum.Format == "" {
		sum.Format = resource.DecimalSI
	}
	return sum
}

// counts tells whether a pod counts against quota: not finished, and not
// past the end of its graceful deletion.
func counts(p *corev1.Pod, now time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	return p.DeletionTimestamp == nil || now.Before(p.DeletionTimestamp.Time)
}

// matchesScopes tells whether a pod falls under all of q's scopes.
func matchesScopes(q *corev1.ResourceQuota, p *corev1.Pod) bool {
	var reqs []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		reqs = append(reqs, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		reqs = append(reqs, q.Spec.ScopeSelector.MatchExpressions...)
	}
	for _, r := range reqs {
		if !matchesScope(r, p) {
			return false
		}
	}
	return true
}

func matchesScope(r corev1.ScopedResourceSelectorRequirement, p *corev1.Pod) bool {
	terminating := p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
	bestEffort := isBestEffort(p)
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort
	case corev1.ResourceQuotaScopePriorityClass:
		pc := p.Spec.PriorityClassName
		switch r.Operator {
		case corev1.ScopeSelectorOpIn:
			return slices.Contains(r.Values, pc)
		case corev1.ScopeSelectorOpNotIn:
			return !slices.Contains(r.Values, pc)
		case corev1.ScopeSelectorOpExists:
			return pc != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return pc == ""
		}
	}
	return false
}

func isBestEffort(p *corev1.Pod) bool {
	if p.Status.QOSClass != "" {
		return p.Status.QOSClass == corev1.PodQOSBestEffort
	}
	for _, c := range p.Spec.Containers {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			return false
		}
	}
	return true
}

// serviceUsage counts the node ports or load balancers of services.
func serviceUsage(objs []runtime.Object, name corev1.ResourceName) int64 {
	var n int64
	for _, o := range objs {
		svc := o.(*corev1.Service)
		switch {
		case name == corev1.ResourceServicesLoadBalancers && svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
			n++
		case name == corev1.ResourceServicesNodePorts && (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer):
			n += int64(len(svc.Spec.Ports))
		}
	}
	return n
}
