package priority

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/apis"
)

func class(name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault, PreemptionPolicy: &policy}
}

// newPlugin returns a plugin whose cache holds cached and whose API holds
// live as well.
func newPlugin(t *testing.T, cached, live []*schedulingv1.PriorityClass) *Plugin {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	var objs []runtime.Object
	for _, pc := range cached {
		if err := idx.Add(pc); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, pc)
	}
	for _, pc := range live {
		objs = append(objs, pc)
	}
	return New(Config{Lister: schedulinglisters.NewPriorityClassLister(idx), Client: fake.NewClientset(objs...).SchedulingV1()})
}

// served are the built-in classes and two of an operator's.
func served() []*schedulingv1.PriorityClass {
	return append(apis.SystemPriorityClasses(),
		class("high", 1000, false, corev1.PreemptLowerPriority),
		class("batch", 10, false, corev1.PreemptNever))
}

// admitted fails unless err is nil, or a 403 with forbidden in its
// message when forbidden is set, and reports whether the write went
// through.
func admitted(t *testing.T, err error, forbidden string) bool {
	t.Helper()
	switch {
	case forbidden != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), forbidden)):
		t.Fatalf("got %v, want 403 %q", err, forbidden)
	case forbidden == "" && err != nil:
		t.Fatal(err)
	}
	return err == nil
}

func createPod(p *Plugin, pod *corev1.Pod) error {
	return p.Admit(context.Background(), &admission.Attributes{
		Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod, Name: "p",
	})
}

func TestPodPriority(t *testing.T) {
	for _, c := range []struct {
		name         string
		cached, live []*schedulingv1.PriorityClass
		class        string
		given        *int32
		givenPolicy  *corev1.PreemptionPolicy
		want         int32
		wantClass    string
		wantPolicy   corev1.PreemptionPolicy
		forbidden    string
	}{
		{name: "no class, no default", cached: served(), wantPolicy: corev1.PreemptLowerPriority},
		{name: "no class, a global default", cached: append(served(), class("normal", 50, true, corev1.PreemptNever)),
			want: 50, wantClass: "normal", wantPolicy: corev1.PreemptNever},
		{name: "two global defaults: the lower wins", cached: append(served(), class("normal", 50, true, corev1.PreemptNever), class("low", 5, true, corev1.PreemptLowerPriority)),
			want: 5, wantClass: "low", wantPolicy: corev1.PreemptLowerPriority},
		{name: "operator's class", cached: served(), class: "high", want: 1000, wantClass: "high", wantPolicy: corev1.PreemptLowerPriority},
		{name: "class that never preempts", cached: served(), class: "batch", want: 10, wantClass: "batch", wantPolicy: corev1.PreemptNever},
		{name: "node critical", cached: served(), class: "system-node-critical", want: 2000001000, wantClass: "system-node-critical", wantPolicy: corev1.PreemptLowerPriority},
		{name: "cluster critical", cached: served(), class: "system-cluster-critical", want: 2000000000, wantClass: "system-cluster-critical", wantPolicy: corev1.PreemptLowerPriority},
		{name: "class not cached yet", live: []*schedulingv1.PriorityClass{class("fresh", 7, false, corev1.PreemptLowerPriority)}, class: "fresh",
			want: 7, wantClass: "fresh", wantPolicy: corev1.PreemptLowerPriority},
		{name: "unknown class", cached: served(), class: "gold", forbidden: "no PriorityClass with name gold was found"},
		{name: "hand-set priority", cached: served(), given: ptr.To(int32(7)), forbidden: "the integer value of priority (7) must not be provided"},
		{name: "hand-set matching priority", cached: served(), class: "high", given: ptr.To(int32(1000)), want: 1000, wantClass: "high", wantPolicy: corev1.PreemptLowerPriority},
		{name: "hand-set preemption policy", cached: served(), class: "batch", givenPolicy: ptr.To(corev1.PreemptLowerPriority),
			forbidden: "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never"},
		{name: "hand-set matching preemption policy", cached: served(), class: "batch", givenPolicy: ptr.To(corev1.PreemptNever),
			want: 10, wantClass: "batch", wantPolicy: corev1.PreemptNever},
	} {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: c.class, Priority: c.given, PreemptionPolicy: c.givenPolicy}}
			err := createPod(newPlugin(t, c.cached, c.live), pod)
			if !admitted(t, err, c.forbidden) {
				return
			}
			s := pod.Spec
			if s.Priority == nil || *s.Priority != c.want || s.PriorityClassName != c.wantClass || s.PreemptionPolicy == nil || *s.PreemptionPolicy != c.wantPolicy {
				t.Fatalf("priority %v class %q policy %v, want %d %q %s", s.Priority, s.PriorityClassName, s.PreemptionPolicy, c.want, c.wantClass, c.wantPolicy)
			}
		})
	}
}

// An update that leaves priority and preemption policy out keeps the
// stored ones; nothing is looked up.
func TestPodUpdateKeepsPriority(t *testing.T) {
	old := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "gone", Priority: ptr.To(int32(1000)), PreemptionPolicy: ptr.To(corev1.PreemptNever)}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "gone"}}
	err := newPlugin(t, nil, nil).Admit(context.Background(), &admission.Attributes{
		Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod, OldObject: old, Name: "p",
	})
	if err != nil || pod.Spec.Priority == nil || *pod.Spec.Priority != 1000 || pod.Spec.PreemptionPolicy == nil || *pod.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Fatalf("err %v priority %v policy %v, want the stored ones", err, pod.Spec.Priority, pod.Spec.PreemptionPolicy)
	}
}

func TestPriorityClassWrites(t *testing.T) {
	resource := schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")
	withDefault := append(served(), class("normal", 50, true, corev1.PreemptLowerPriority))
	for _, c := range []struct {
		name      string
		stored    []*schedulingv1.PriorityClass
		op        admission.Operation
		obj       *schedulingv1.PriorityClass
		forbidden string
	}{
		{name: "first global default", stored: served(), op: admission.Create, obj: class("normal", 50, true, corev1.PreemptLowerPriority)},
		{name: "second global default", stored: withDefault, op: admission.Create, obj: class("other", 60, true, corev1.PreemptLowerPriority),
			forbidden: `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass normal is already marked as default. Only one default can exist`},
		{name: "another class", stored: withDefault, op: admission.Create, obj: class("other", 60, false, corev1.PreemptLowerPriority)},
		{name: "the default updated", stored: withDefault, op: admission.Update, obj: class("normal", 50, true, corev1.PreemptLowerPriority)},
		{name: "another made the default", stored: withDefault, op: admission.Update, obj: class("high", 1000, true, corev1.PreemptLowerPriority),
			forbidden: "PriorityClass normal is already marked as default. Only one default can exist"},
		{name: "delete a user class", stored: withDefault, op: admission.Delete, obj: class("high", 1000, false, corev1.PreemptLowerPriority)},
		{name: "delete a system class", stored: served(), op: admission.Delete, obj: apis.SystemPriorityClass(apis.SystemNodeCritical),
			forbidden: `priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted`},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: c.op, Resource: resource, Name: c.obj.Name, Object: c.obj}
			if c.op != admission.Create {
				a.OldObject = c.obj
			}
			if c.op == admission.Delete {
				a.Object = nil
			}
			// Only the live API holds them: the check must not trust the
			// cache.
			err := newPlugin(t, nil, c.stored).Validate(context.Background(), a)
			admitted(t, err, c.forbidden)
		})
	}
}
