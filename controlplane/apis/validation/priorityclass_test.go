package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis"
)

func validPriorityClass() *schedulingv1.PriorityClass {
	return defaulted(&schedulingv1.PriorityClass{
		ObjectMeta:  metav1.ObjectMeta{Name: "high", ResourceVersion: "1"},
		Value:       1000,
		Description: "for the important pods",
	})
}

// systemClass returns the stored built-in class of that name.
func systemClass(name string) func() *schedulingv1.PriorityClass {
	return func() *schedulingv1.PriorityClass {
		pc := defaulted(apis.SystemPriorityClass(name))
		pc.ResourceVersion = "1"
		return pc
	}
}

func TestPriorityClass(t *testing.T) {
	runCreate(t, validPriorityClass, []createCase[*schedulingv1.PriorityClass]{
		{name: "valid"},
		{name: "negative value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = -10 }},
		{name: "highest user value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = apis.HighestUserDefinablePriority }},
		{name: "global default", mutate: func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }},
		{name: "never preempts", mutate: func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To(corev1.PreemptNever) }},
		{name: "no name", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "" }, want: []want{required("metadata.name")}},
		{name: "name not a DNS subdomain", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "High_Prio" }, want: []want{invalid("metadata.name")}},
		{name: "dotted name", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "tier.example.com" }},
		{name: "namespaced", mutate: func(pc *schedulingv1.PriorityClass) { pc.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
		{name: "value above the user maximum", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = apis.HighestUserDefinablePriority + 1 },
			want: []want{forbidden("value")}},
		{name: "reserved prefix", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "system-high" }, want: []want{forbidden("metadata.name")}},
		{name: "empty preemption policy", mutate: func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To(corev1.PreemptionPolicy("")) },
			want: []want{required("preemptionPolicy")}},
		{name: "unknown preemption policy", mutate: func(pc *schedulingv1.PriorityClass) {
			pc.PreemptionPolicy = ptr.To(corev1.PreemptionPolicy("Sometimes"))
		},
			want: []want{notSupported("preemptionPolicy")}},
	})
	runUpdate(t, validPriorityClass, false, []updateCase[*schedulingv1.PriorityClass]{
		{name: "description may change", mutate: func(pc *schedulingv1.PriorityClass) { pc.Description = "changed" }},
		{name: "may become the global default", mutate: func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }},
		{name: "value immutable", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = 2000 }, want: []want{forbidden("value")}},
		{name: "preemption policy immutable", mutate: func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr.To(corev1.PreemptNever) },
			want: []want{invalid("preemptionPolicy")}},
		{name: "name immutable", mutate: func(pc *schedulingv1.PriorityClass) { pc.Name = "higher" }, want: []want{invalid("metadata.name")}},
	})
}

// The built-in classes may be created only as they are built in, and
// changed only outside their value and globalDefault.
func TestSystemPriorityClasses(t *testing.T) {
	for _, name := range []string{apis.SystemClusterCritical, apis.SystemNodeCritical} {
		t.Run(name, func(t *testing.T) {
			runCreate(t, systemClass(name), []createCase[*schedulingv1.PriorityClass]{
				{name: "as built in"},
				{name: "other value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = 5 }, want: []want{forbidden("metadata.name")}},
				{name: "global default", mutate: func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }, want: []want{forbidden("metadata.name")}},
			})
			runUpdate(t, systemClass(name), false, []updateCase[*schedulingv1.PriorityClass]{
				{name: "labels may change", mutate: func(pc *schedulingv1.PriorityClass) { pc.Labels = map[string]string{"a": "b"} }},
				{name: "value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value++ }, want: []want{forbidden("metadata.name"), forbidden("value")}},
				{name: "global default", mutate: func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }, want: []want{forbidden("metadata.name")}},
			})
		})
	}
}

// The messages are Kubernetes' own.
func TestPriorityClassMessages(t *testing.T) {
	pc := validPriorityClass()
	pc.Value = 2000000000
	if got := detail(t, ValidateCreate(pc), "value"); got != "maximum allowed value of a user defined priority is 1000000000" {
		t.Errorf("value: %q", got)
	}
	pc = validPriorityClass()
	pc.Name = "system-high"
	if got := detail(t, ValidateCreate(pc), "metadata.name"); got != "priority class names with 'system-' prefix are reserved for system use only. error: system-high is not a known system priority class" {
		t.Errorf("reserved name: %q", got)
	}
	sys := systemClass(apis.SystemNodeCritical)()
	sys.Value = 1
	if got := detail(t, ValidateCreate(sys), "metadata.name"); !strings.HasSuffix(got, "error: value of system-node-critical PriorityClass must be 2000001000") {
		t.Errorf("system class value: %q", got)
	}
	old, upd := validPriorityClass(), validPriorityClass()
	upd.Value = 1
	if got := detail(t, ValidateUpdate(upd, old), "value"); got != "may not be changed in an update." {
		t.Errorf("value update: %q", got)
	}
}
