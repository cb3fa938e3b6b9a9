// Package priority is Kubernetes' Priority admission plugin. For pods, it
// resolves spec.priorityClassName into spec.priority and
// spec.preemptionPolicy from the served PriorityClass objects
// (scheduling.k8s.io/v1), and gives a pod without a class the global
// default class (the one with globalDefault=true), or priority 0 and
// PreemptLowerPriority when there is none. It refuses a pod naming an
// unknown class ("no PriorityClass with name X was found") or setting a
// priority or preemption policy by hand that its class does not give.
// For PriorityClasses, it refuses a second global default and the
// deletion of the built-in system-cluster-critical and
// system-node-critical classes, which the server creates at start.
//
// Classes come from an informer cache. A named class the cache does not
// hold yet (created a moment ago) is read live; the global default for
// pods without a class is read from the cache once it has synced, as in
// Kubernetes; the check for a second global default lists the classes
// live, since class writes are rare and must not race with the cache.
package priority

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	schedulingv1client "k8s.io/client-go/kubernetes/typed/scheduling/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/apis"
)

// Config is what the plugin reads.
type Config struct {
	// Lister reads PriorityClasses from an informer cache.
	Lister schedulinglisters.PriorityClassLister
	// Synced reports whether the cache has filled; nil means it has.
	Synced func() bool
	// Client reads PriorityClasses live: a class the cache does not hold,
	// and all of them when a write makes a class the global default.
	Client schedulingv1client.PriorityClassesGetter
}

// Plugin resolves pod priorities and guards PriorityClasses.
type Plugin struct {
	cfg Config
}

var (
	_ admission.Mutator   = (*Plugin)(nil)
	_ admission.Validator = (*Plugin)(nil)
)

// New returns the plugin.
func New(cfg Config) *Plugin {
	return &Plugin{cfg: cfg}
}

var (
	podsResource            = corev1.Resource("pods")
	priorityClassesResource = schedulingv1.Resource("priorityclasses")
)

// Admit sets a new pod's priority and preemption policy, and keeps them
// on a pod update that leaves them out.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Resource.GroupResource() != podsResource {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	switch a.Operation {
	case admission.Create:
		return p.admitPod(ctx, a, pod)
	case admission.Update:
		// Validation refuses any other change to them.
		if old, ok := a.OldObject.(*corev1.Pod); ok {
			if pod.Spec.Priority == nil {
				pod.Spec.Priority = old.Spec.Priority
			}
			if pod.Spec.PreemptionPolicy == nil {
				pod.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
			}
		}
	}
	return nil
}

func (p *Plugin) admitPod(ctx context.Context, a *admission.Attributes, pod *corev1.Pod) error {
	var priority int32
	policy := corev1.PreemptLowerPriority
	if name := pod.Spec.PriorityClassName; name != "" {
		pc, err := p.class(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %s was found", name))
		case err != nil:
			return fmt.Errorf("priority: PriorityClass %s: %w", name, err)
		}
		priority = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	} else {
		pc, err := p.cachedDefault(ctx)
		if err != nil {
			return fmt.Errorf("priority: default PriorityClass: %w", err)
		}
		if pc != nil {
			pod.Spec.PriorityClassName, priority = pc.Name, pc.Value
			if pc.PreemptionPolicy != nil {
				policy = *pc.PreemptionPolicy
			}
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return admission.NewForbidden(a, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.Priority, pod.Spec.PreemptionPolicy = &priority, &policy
	return nil
}

// Validate refuses a second global default PriorityClass and the
// deletion of a system class.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || a.Resource.GroupResource() != priorityClassesResource {
		return nil
	}
	switch a.Operation {
	case admission.Delete:
		if apis.SystemPriorityClass(a.Name) != nil {
			return admission.NewForbidden(a, errors.New("this is a system priority class and cannot be deleted"))
		}
	case admission.Create, admission.Update:
		pc, ok := a.Object.(*schedulingv1.PriorityClass)
		if !ok || !pc.GlobalDefault {
			return nil
		}
		list, err := p.cfg.Client.PriorityClasses().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("priority: list PriorityClasses: %w", err)
		}
		classes := make([]*schedulingv1.PriorityClass, len(list.Items))
		for i := range list.Items {
			classes[i] = &list.Items[i]
		}
		if def := globalDefault(classes); def != nil && (a.Operation == admission.Create || def.Name != pc.Name) {
			return admission.NewForbidden(a, fmt.Errorf("PriorityClass %s is already marked as default. Only one default can exist", def.Name))
		}
	}
	return nil
}

// class returns the named class from the cache, or live when the cache
// does not hold it.
func (p *Plugin) class(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	pc, err := p.cfg.Lister.Get(name)
	if err == nil || !apierrors.IsNotFound(err) {
		return pc, err
	}
	return p.cfg.Client.PriorityClasses().Get(ctx, name, metav1.GetOptions{})
}

// cachedDefault returns the global default class from the cache once it
// has synced, or nil when there is none.
func (p *Plugin) cachedDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	if !admission.WaitForReady(ctx, p.cfg.Synced) {
		return nil, errors.New("PriorityClass cache not synced")
	}
	classes, err := p.cfg.Lister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return globalDefault(classes), nil
}

// globalDefault returns the class marked globalDefault, or nil. Should
// concurrent writes have marked several, the lowest value wins, as in
// Kubernetes.
func globalDefault(classes []*schedulingv1.PriorityClass) *schedulingv1.PriorityClass {
	var def *schedulingv1.PriorityClass
	for _, pc := range classes {
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def
}
