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
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"

	"skiff.dev/skiff/controlplane/admission"
)

// evaluator measures what one resource's objects use of quota.
type evaluator interface {
	// handles reports whether the operation can change usage.
	handles(op admission.Operation) bool
	// matchingResources returns the names it tracks among names.
	matchingResources(names []corev1.ResourceName) []corev1.ResourceName
	// matchesScope reports whether obj is in a quota scope.
	matchesScope(sel corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error)
	// constraints checks what a quota tracking required demands of obj
	// beyond fitting in it.
	constraints(required []corev1.ResourceName, obj runtime.Object) error
	// usage measures obj.
	usage(obj runtime.Object) (corev1.ResourceList, error)
}

// ignoredResources are never counted.
var ignoredResources = sets.New(schema.GroupResource{Resource: "events"})

// evaluatorFor returns the evaluator of gr: pods and services are
// measured, everything else counted as count/<resource>[.<group>] and, for
// the core kinds quota counted before object counts existed, under their
// old names too.
func (p *Plugin) evaluatorFor(gr schema.GroupResource) evaluator {
	switch gr {
	case corev1.Resource("pods"):
		return &podEvaluator{now: p.now}
	case corev1.Resource("services"):
		return serviceEvaluator{}
	case corev1.Resource("configmaps"), corev1.Resource("secrets"),
		corev1.Resource("replicationcontrollers"), corev1.Resource("resourcequotas"):
		return newObjectCountEvaluator(gr, corev1.ResourceName(gr.Resource))
	}
	return newObjectCountEvaluator(gr, "")
}

// objectCountName is the quota name counting gr's objects.
func objectCountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// objectCountEvaluator counts created objects.
type objectCountEvaluator struct {
	resources []corev1.ResourceName
}

func newObjectCountEvaluator(gr schema.GroupResource, alias corev1.ResourceName) objectCountEvaluator {
	e := objectCountEvaluator{resources: []corev1.ResourceName{objectCountName(gr)}}
	if alias != "" {
		e.resources = append(e.resources, alias)
	}
	return e
}

func (e objectCountEvaluator) handles(op admission.Operation) bool { return op == admission.Create }

func (e objectCountEvaluator) matchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	return intersection(names, e.resources)
}

// matchesScope is false: scoped quotas count no plain objects.
func (e objectCountEvaluator) matchesScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}

func (e objectCountEvaluator) constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (e objectCountEvaluator) usage(runtime.Object) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, name := range e.resources {
		out[name] = *resource.NewQuantity(1, resource.DecimalSI)
	}
	return out, nil
}

func intersection(a, b []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range a {
		if slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

// serviceEvaluator counts services and their node ports and load
// balancers; a service's type can change, so updates count too.
type serviceEvaluator struct{}

var serviceResources = []corev1.ResourceName{
	objectCountName(corev1.Resource("services")),
	corev1.ResourceServices,
	corev1.ResourceServicesNodePorts,
	corev1.ResourceServicesLoadBalancers,
}

func (serviceEvaluator) handles(op admission.Operation) bool {
	return op == admission.Create || op == admission.Update
}

func (serviceEvaluator) matchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	return intersection(names, serviceResources)
}

func (serviceEvaluator) matchesScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}

func (serviceEvaluator) constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (serviceEvaluator) usage(obj runtime.Object) (corev1.ResourceList, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T for services", obj)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{
		objectCountName(corev1.Resource("services")): one,
		corev1.ResourceServices:                      one,
		corev1.ResourceServicesNodePorts:             *resource.NewQuantity(0, resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers:         *resource.NewQuantity(0, resource.DecimalSI),
	}
	ports := int64(len(svc.Spec.Ports))
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
	case corev1.ServiceTypeLoadBalancer:
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			// Only ports that ask for a node port get one.
			ports = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports++
				}
			}
		}
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		out[corev1.ResourceServicesLoadBalancers] = one
	}
	return out, nil
}

// podEvaluator measures pods' compute resources; pods' containers cannot
// change after create, so only creates count.
type podEvaluator struct {
	now func() time.Time
}

var podResources = []corev1.ResourceName{
	objectCountName(corev1.Resource("pods")),
	corev1.ResourcePods,
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

// podResourcePrefixes are tracked names with a variable suffix.
var podResourcePrefixes = []string{corev1.ResourceHugePagesPrefix, corev1.ResourceRequestsHugePagesPrefix}

// validationResources must be requested by every container of a pod that
// a quota tracking them counts (Kubernetes keeps this for compatibility).
var validationResources = sets.New(
	string(corev1.ResourceCPU), string(corev1.ResourceMemory),
	string(corev1.ResourceRequestsCPU), string(corev1.ResourceRequestsMemory),
	string(corev1.ResourceLimitsCPU), string(corev1.ResourceLimitsMemory),
)

func (*podEvaluator) handles(op admission.Operation) bool { return op == admission.Create }

func (*podEvaluator) matchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	out := intersection(names, podResources)
	for _, name := range names {
		if hasPrefix(name, podResourcePrefixes) || isExtendedForQuota(name) {
			out = append(out, name)
		}
	}
	return out
}

func hasPrefix(name corev1.ResourceName, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(string(name), p) })
}

// isNative reports whether name is a Kubernetes resource: unqualified or
// in the kubernetes.io domain.
func isNative(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedForQuota reports whether name is an extended resource's quota
// name; extended resources are not overcommitted, so only
// requests.<name> exists.
func isExtendedForQuota(name corev1.ResourceName) bool {
	return !isNative(name) && strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix)
}

func (*podEvaluator) matchesScope(sel corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("unexpected object %T for pods", obj)
	}
	switch sel.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		if sel.Operator == corev1.ScopeSelectorOpExists {
			return pod.Spec.PriorityClassName != "", nil
		}
		return priorityClassMatches(pod, sel)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod), nil
	}
	return false, nil
}

// terminating reports whether the pod has an active deadline.
func terminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// bestEffort reports whether the pod is in the BestEffort QoS class: no
// container, nor the pod, requests or limits cpu or memory.
func bestEffort(pod *corev1.Pod) bool {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass == corev1.PodQOSBestEffort
	}
	lists := []corev1.ResourceList{}
	if pod.Spec.Resources != nil {
		lists = append(lists, pod.Spec.Resources.Requests, pod.Spec.Resources.Limits)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			lists = append(lists, c.Resources.Requests, c.Resources.Limits)
		}
	}
	for _, l := range lists {
		for name, q := range l {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				return false
			}
		}
	}
	return true
}

// priorityClassMatches evaluates an In/NotIn/DoesNotExist selector on the
// pod's priority class.
func priorityClassMatches(pod *corev1.Pod, sel corev1.ScopedResourceSelectorRequirement) (bool, error) {
	var op selection.Operator
	switch sel.Operator {
	case corev1.ScopeSelectorOpIn:
		op = selection.In
	case corev1.ScopeSelectorOpNotIn:
		op = selection.NotIn
	case corev1.ScopeSelectorOpExists:
		op = selection.Exists
	case corev1.ScopeSelectorOpDoesNotExist:
		op = selection.DoesNotExist
	default:
		return false, fmt.Errorf("%q is not a valid scope selector operator", sel.Operator)
	}
	req, err := labels.NewRequirement(string(sel.ScopeName), op, sel.Values)
	if err != nil {
		return false, fmt.Errorf("failed to parse and convert selector: %w", err)
	}
	var set labels.Set
	if pod.Spec.PriorityClassName != "" {
		set = labels.Set{string(corev1.ResourceQuotaScopePriorityClass): pod.Spec.PriorityClassName}
	}
	return labels.NewSelector().Add(*req).Matches(set), nil
}

// crossNamespaceAffinity reports whether a pod (anti-)affinity term of the
// pod reaches into other namespaces.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if pa := a.PodAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		terms = append(terms, pa.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	return slices.ContainsFunc(terms, func(t corev1.PodAffinityTerm) bool {
		return len(t.Namespaces) > 0 || t.NamespaceSelector != nil
	})
}

// constraints requires every container to request each of cpu and memory
// that the quota tracks.
func (*podEvaluator) constraints(required []corev1.ResourceName, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return fmt.Errorf("unexpected object %T for pods", obj)
	}
	requiredSet := nameSet(required).Intersection(validationResources)
	missing := map[string]sets.Set[string]{}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			have := nameSet(names(computeUsage(c.Resources.Requests, c.Resources.Limits)))
			for _, name := range requiredSet.Difference(have).UnsortedList() {
				if missing[name] == nil {
					missing[name] = sets.New[string]()
				}
				missing[name].Insert(c.Name)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var msgs []string
	for _, name := range sets.List(sets.KeySet(missing)) {
		msgs = append(msgs, fmt.Sprintf("%s for: %s", name, strings.Join(sets.List(missing[name]), ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

// usage counts the pod, and its requests and limits while it can run.
func (e *podEvaluator) usage(obj runtime.Object) (corev1.ResourceList, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T for pods", obj)
	}
	// count/pods counts every stored pod; the rest only live ones.
	out := corev1.ResourceList{objectCountName(corev1.Resource("pods")): *resource.NewQuantity(1, resource.DecimalSI)}
	if !e.live(pod) {
		return out, nil
	}
	opts := resourcehelper.PodResourcesOptions{}
	return add(out, computeUsage(resourcehelper.PodRequests(pod, opts), resourcehelper.PodLimits(pod, opts))), nil
}

// live reports whether a pod counts against compute quota: not finished,
// and not stuck past its deletion grace period (a lost node's pods must
// not block their replacements).
func (e *podEvaluator) live(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		due := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if e.now().After(due) {
			return false
		}
	}
	return true
}

// computeUsage turns requests and limits into quota names.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)}
	for _, r := range []struct{ name, requests, limits corev1.ResourceName }{
		{corev1.ResourceCPU, corev1.ResourceRequestsCPU, corev1.ResourceLimitsCPU},
		{corev1.ResourceMemory, corev1.ResourceRequestsMemory, corev1.ResourceLimitsMemory},
		{corev1.ResourceEphemeralStorage, corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsEphemeralStorage},
	} {
		if q, ok := requests[r.name]; ok {
			out[r.name] = q
			out[r.requests] = q
		}
		if q, ok := limits[r.name]; ok {
			out[r.limits] = q
		}
	}
	for name, q := range requests {
		requestName := corev1.ResourceName(corev1.DefaultResourceRequestsPrefix + string(name))
		switch {
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q
			out[requestName] = q
		case !isNative(name) && !strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix):
			// An extended resource, counted as requests.<name> only.
			out[requestName] = q
		}
	}
	return out
}
