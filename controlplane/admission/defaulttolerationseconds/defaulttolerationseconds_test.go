package defaulttolerationseconds

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/admission"
)

func seconds(s int64) *int64 { return &s }

var (
	notReady300    = corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(300)}
	unreachable300 = corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(300)}
)

func TestDefaultTolerations(t *testing.T) {
	own := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(5)}
	noSchedule := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	everything := corev1.Toleration{Operator: corev1.TolerationOpExists}
	anyEffect := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name       string
		have, want []corev1.Toleration
	}{
		{"none", nil, []corev1.Toleration{notReady300, unreachable300}},
		{"unrelated ones", []corev1.Toleration{other}, []corev1.Toleration{other, notReady300, unreachable300}},
		{"its own not-ready", []corev1.Toleration{own}, []corev1.Toleration{own, unreachable300}},
		{"not-ready for another effect", []corev1.Toleration{noSchedule}, []corev1.Toleration{noSchedule, notReady300, unreachable300}},
		{"unreachable for every effect", []corev1.Toleration{anyEffect}, []corev1.Toleration{anyEffect, notReady300}},
		{"every taint", []corev1.Toleration{everything}, []corev1.Toleration{everything}},
		{"both already", []corev1.Toleration{notReady300, unreachable300}, []corev1.Toleration{notReady300, unreachable300}},
	}
	p := New(Config{})
	for _, tc := range tests {
		for _, op := range []admission.Operation{admission.Create, admission.Update} {
			t.Run(tc.name+"/"+string(op), func(t *testing.T) {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Tolerations: tc.have}}
				a := &admission.Attributes{Operation: op, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "ns", Name: "p", Object: pod}
				if err := p.Admit(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				if !apiequality.Semantic.DeepEqual(pod.Spec.Tolerations, tc.want) {
					t.Errorf("tolerations %+v, want %+v", pod.Spec.Tolerations, tc.want)
				}
			})
		}
	}
}

// The seconds are configurable, each pod gets its own copy, and status
// writes are left alone.
func TestConfigAndScope(t *testing.T) {
	p := New(Config{NotReadySeconds: 60, UnreachableSeconds: 120})
	pods := []*corev1.Pod{{}, {}}
	for _, pod := range pods {
		a := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod}
		if err := p.Admit(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	tol := pods[0].Spec.Tolerations
	if len(tol) != 2 || *tol[0].TolerationSeconds != 60 || *tol[1].TolerationSeconds != 120 {
		t.Fatalf("tolerations %+v", tol)
	}
	*tol[0].TolerationSeconds = 1
	if *pods[1].Spec.Tolerations[0].TolerationSeconds != 60 {
		t.Error("pods share tolerationSeconds")
	}
	status := &corev1.Pod{}
	a := &admission.Attributes{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Subresource: "status", Object: status}
	if err := p.Admit(context.Background(), a); err != nil || len(status.Spec.Tolerations) != 0 {
		t.Errorf("status update: %v, tolerations %+v", err, status.Spec.Tolerations)
	}
}
