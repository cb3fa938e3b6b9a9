package defaulttolerationseconds_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/admission/admissiontest"
)

// Through the API, a created pod tolerates a not-ready or unreachable node
// for 300 seconds, and keeps a toleration of its own.
func TestDefaultTolerationsThroughAPI(t *testing.T) {
	env := admissiontest.Start(t)
	ctx := admissiontest.Context(t)
	ns := env.Namespace(t)

	pod := admissiontest.Pod("p", nil, nil)
	five := int64(5)
	pod.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &five}}
	out, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tol := range out.Spec.Tolerations {
		if tol.Effect == corev1.TaintEffectNoExecute && tol.Operator == corev1.TolerationOpExists && tol.TolerationSeconds != nil {
			got[tol.Key] = *tol.TolerationSeconds
		}
	}
	want := map[string]int64{corev1.TaintNodeNotReady: 300, corev1.TaintNodeUnreachable: 5}
	if len(out.Spec.Tolerations) != 2 || got[corev1.TaintNodeNotReady] != 300 || got[corev1.TaintNodeUnreachable] != 5 {
		t.Errorf("tolerations %+v, want %v", out.Spec.Tolerations, want)
	}
}
