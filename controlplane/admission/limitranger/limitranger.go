// Package limitranger is Kubernetes' LimitRanger admission plugin for pod
// creates. In the mutating phase, containers (and init containers)
// without a request or limit for a resource get the defaultRequest and
// default of their namespace's LimitRanges of type Container, recorded in
// the kubernetes.io/limit-ranger annotation. In the validating phase,
// every container must satisfy the min, max and maxLimitRequestRatio of
// type Container, and the pod's total those of type Pod; a pod that does
// not is refused with Kubernetes' 403 ("maximum cpu usage per Container
// is 2, but limit is 3"). PersistentVolumeClaim limits are not enforced:
// skiff serves no claims yet.
//
// LimitRanges come from an informer cache; when it holds none for the
// namespace, a live list stands in for 30 seconds, so a LimitRange created
// a moment ago applies.
package limitranger

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/admission/internal/livelookup"
)

// Annotation records the defaults the plugin set on a pod.
const Annotation = "kubernetes.io/limit-ranger"

// Config is what the plugin reads.
type Config struct {
	// Lister reads LimitRanges from an informer cache.
	Lister corelisters.LimitRangeLister
	// Client lists a namespace's LimitRanges live when the cache has none.
	Client corev1client.LimitRangesGetter
}

// Plugin applies LimitRanges to pods.
type Plugin struct {
	cfg  Config
	live *livelookup.Cache[*corev1.LimitRange]
}

var (
	_ admission.Mutator   = (*Plugin)(nil)
	_ admission.Validator = (*Plugin)(nil)
)

// New returns the plugin.
func New(cfg Config) *Plugin {
	return &Plugin{cfg: cfg, live: livelookup.New[*corev1.LimitRange](livelookup.DefaultTTL)}
}

var podKind = corev1.SchemeGroupVersion.WithKind("Pod").GroupKind()

// Admit fills in the containers' default requests and limits.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	return p.run(ctx, a, func(lr *corev1.LimitRange, pod *corev1.Pod) error {
		mergeDefaults(pod, lr)
		return nil
	})
}

// Validate enforces the LimitRanges' bounds.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	return p.run(ctx, a, validatePod)
}

// run applies fn to a created pod with each LimitRange of its namespace.
// Pods are only checked on create: their containers' resources cannot
// change afterwards.
func (p *Plugin) run(ctx context.Context, a *admission.Attributes, fn func(*corev1.LimitRange, *corev1.Pod) error) error {
	if a.Subresource != "" || a.Kind.GroupKind() != podKind || a.Operation != admission.Create {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	ranges, err := p.limitRanges(ctx, a)
	if err != nil {
		return err
	}
	for _, lr := range ranges {
		if err := fn(lr, pod); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// limitRanges returns the LimitRanges of the write's namespace, in name
// order.
func (p *Plugin) limitRanges(ctx context.Context, a *admission.Attributes) ([]*corev1.LimitRange, error) {
	items, err := p.cfg.Lister.LimitRanges(a.Namespace).List(labels.Everything())
	if err != nil {
		return nil, admission.NewForbidden(a, fmt.Errorf("unable to %s %v at this time because there was an error enforcing limit ranges", a.Operation, a.Resource))
	}
	if len(items) == 0 {
		items, err = p.live.List(ctx, a.Namespace, func(ctx context.Context) ([]*corev1.LimitRange, error) {
			list, err := p.cfg.Client.LimitRanges(a.Namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := make([]*corev1.LimitRange, len(list.Items))
			for i := range list.Items {
				out[i] = &list.Items[i]
			}
			return out, nil
		})
		if err != nil {
			return nil, admission.NewForbidden(a, err)
		}
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(x, y *corev1.LimitRange) int { return strings.Compare(x.Name, y.Name) })
	return items, nil
}

// defaults returns the default requests and limits of a LimitRange's
// Container items.
func defaults(lr *corev1.LimitRange) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for name, q := range item.DefaultRequest {
			requests[name] = q.DeepCopy()
		}
		for name, q := range item.Default {
			limits[name] = q.DeepCopy()
		}
	}
	return requests, limits
}

// mergeDefaults gives every container the default requests and limits it
// lacks and records what it set in the pod's annotation.
func mergeDefaults(pod *corev1.Pod, lr *corev1.LimitRange) {
	requests, limits := defaults(lr)
	var notes []string
	for i := range pod.Spec.Containers {
		notes = mergeContainer(&pod.Spec.Containers[i], requests, limits, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = mergeContainer(&pod.Spec.InitContainers[i], requests, limits, "init container", notes)
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

// mergeContainer fills in one container and appends what it set to notes.
func mergeContainer(c *corev1.Container, requests, limits corev1.ResourceList, kind string, notes []string) []string {
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	fill := func(dst, src corev1.ResourceList) []string {
		var set []string
		for name, q := range src {
			if _, ok := dst[name]; !ok {
				dst[name] = q.DeepCopy()
				set = append(set, string(name))
			}
		}
		slices.Sort(set)
		return set
	}
	if set := fill(c.Resources.Requests, requests); len(set) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(set, ", "), kind, c.Name))
	}
	if set := fill(c.Resources.Limits, limits); len(set) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(set, ", "), kind, c.Name))
	}
	return notes
}

// validatePod checks every container against the LimitRange's Container
// items and the pod's totals against its Pod items.
func validatePod(lr *corev1.LimitRange, pod *corev1.Pod) error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
				for i := range cs {
					errs = append(errs, checkItem(item, cs[i].Resources.Requests, cs[i].Resources.Limits)...)
				}
			}
		case corev1.LimitTypePod:
			opts := resourcehelper.PodResourcesOptions{ExcludeOverhead: true}
			errs = append(errs, checkItem(item, resourcehelper.PodRequests(pod, opts), resourcehelper.PodLimits(pod, opts))...)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// checkItem checks requests and limits against one item's bounds, in
// resource name order.
func checkItem(item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []error {
	var errs []error
	kind := string(item.Type)
	for _, name := range sortedNames(item.Min) {
		errs = appendErr(errs, minConstraint(kind, name, item.Min[name], requests, limits))
	}
	for _, name := range sortedNames(item.Max) {
		errs = appendErr(errs, maxConstraint(kind, name, item.Max[name], requests, limits))
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		errs = appendErr(errs, ratioConstraint(kind, name, item.MaxLimitRequestRatio[name], requests, limits))
	}
	return errs
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for name := range l {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// minConstraint checks a minimum: a request must be given and it and any
// limit be at least min.
func minConstraint(kind string, name corev1.ResourceName, min resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, kind, min.String())
	case req.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, kind, min.String(), req.String())
	case hasLim && lim.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, kind, min.String(), lim.String())
	}
	return nil
}

// maxConstraint checks a maximum: a limit must be given and it and any
// request be at most max.
func maxConstraint(kind string, name corev1.ResourceName, max resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, kind, max.String())
	case lim.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, kind, max.String(), lim.String())
	case hasReq && req.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, max.String(), req.String())
	}
	return nil
}

// ratioConstraint checks that limit/request is at most ratio; both must be
// given and non-zero.
func ratioConstraint(kind string, name corev1.ResourceName, ratio resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	if !hasReq || req.IsZero() {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, ratio.String())
	}
	if !hasLim || lim.IsZero() {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, kind, ratio.String())
	}
	observed := lim.AsApproximateFloat64() / req.AsApproximateFloat64()
	if observed > ratio.AsApproximateFloat64() {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, ratio.String(), observed)
	}
	return nil
}
