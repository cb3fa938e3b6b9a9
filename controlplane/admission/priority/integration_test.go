package priority_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
)

// status fails unless err is an API error with that code and message.
func status(t *testing.T, err error, code int32, message string) {
	t.Helper()
	var s apierrors.APIStatus
	if !errors.As(err, &s) || s.Status().Code != code || s.Status().Message != message {
		t.Fatalf("got %v, want %d %s", err, code, message)
	}
}

// invalidAt fails unless err is a 422 with a cause at field.
func invalidAt(t *testing.T, err error, field string) {
	t.Helper()
	var s apierrors.APIStatus
	if !errors.As(err, &s) || s.Status().Code != 422 || s.Status().Details == nil {
		t.Fatalf("got %v, want 422 at %s", err, field)
	}
	for _, c := range s.Status().Details.Causes {
		if c.Field == field {
			return
		}
	}
	t.Fatalf("422 %v has no cause at %s", err, field)
}

// Through the API: the built-in classes exist, an operator's class gives
// its pods their priority, a second global default, an unknown class and
// deleting a built-in class are refused, and pods without a class get the
// global default's value.
func TestPriorityClassesThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	classes := env.Client.SchedulingV1().PriorityClasses()
	pods := env.Client.CoreV1().Pods(env.Namespace(t))

	for name, value := range map[string]int32{"system-cluster-critical": 2000000000, "system-node-critical": 2000001000} {
		pc, err := classes.Get(ctx, name, metav1.GetOptions{})
		if err != nil || pc.Value != value || pc.GlobalDefault || pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
			t.Fatalf("built-in class %s: %+v, %v", name, pc, err)
		}
	}

	high := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000, Description: "important pods"}
	created, err := classes.Create(ctx, high, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := created.PreemptionPolicy; p == nil || *p != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy %v, want the default PreemptLowerPriority", p)
	}
	pod := admissiontest.Pod("important", nil, nil)
	pod.Spec.PriorityClassName = "high"
	got, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Spec.Priority; p == nil || *p != 1000 || got.Spec.PreemptionPolicy == nil || *got.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("pod priority %v policy %v, want 1000 PreemptLowerPriority from class high", p, got.Spec.PreemptionPolicy)
	}
	unknown := admissiontest.Pod("golden", nil, nil)
	unknown.Spec.PriorityClassName = "gold"
	_, err = pods.Create(ctx, unknown, metav1.CreateOptions{})
	status(t, err, 403, `pods "golden" is forbidden: no PriorityClass with name gold was found`)

	never := corev1.PreemptNever
	normal := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "normal"}, Value: 100, GlobalDefault: true, PreemptionPolicy: &never}
	if _, err := classes.Create(ctx, normal, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Value: 200, GlobalDefault: true}
	_, err = classes.Create(ctx, second, metav1.CreateOptions{})
	status(t, err, 403, `priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass normal is already marked as default. Only one default can exist`)

	// Pods without a class take the default once the plugin's cache has
	// it (dry runs until then).
	var plain *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		plain, err = pods.Create(ctx, admissiontest.Pod("plain", nil, nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && plain.Spec.PriorityClassName != "", err
	})
	if err != nil {
		t.Fatalf("a pod without a class never got the default: %v", err)
	}
	if p := plain.Spec.Priority; p == nil || *p != 100 || plain.Spec.PriorityClassName != "normal" || *plain.Spec.PreemptionPolicy != corev1.PreemptNever {
		t.Errorf("pod without a class: class %q priority %v policy %v, want normal 100 Never", plain.Spec.PriorityClassName, p, plain.Spec.PreemptionPolicy)
	}

	// Validation, with field paths.
	_, err = classes.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Value: 1000000001}, metav1.CreateOptions{})
	invalidAt(t, err, "value")
	_, err = classes.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1}, metav1.CreateOptions{})
	invalidAt(t, err, "metadata.name")
	created.Value = 2000
	_, err = classes.Update(ctx, created, metav1.UpdateOptions{})
	invalidAt(t, err, "value")

	err = classes.Delete(ctx, "system-node-critical", metav1.DeleteOptions{})
	status(t, err, 403, `priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted`)
	if err := classes.Delete(ctx, "high", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete an operator's class: %v", err)
	}
}
