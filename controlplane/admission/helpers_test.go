package admission

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestNewForbidden(t *testing.T) {
	pods := corev1.SchemeGroupVersion.WithResource("pods")
	tests := []struct {
		name string
		a    *Attributes
		msg  string
	}{
		{"named request", &Attributes{Resource: pods, Name: "p"}, `pods "p" is forbidden: no`},
		{"named object", &Attributes{Resource: pods, Object: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q"}}}, `pods "q" is forbidden: no`},
		{"generated name", &Attributes{Resource: pods, Object: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-"}}}, `pods "web-" is forbidden: no`},
		{"no name", &Attributes{Resource: pods}, `pods "Unknown" is forbidden: no`},
		{"object without metadata", &Attributes{Resource: pods, Object: &runtime.Unknown{}}, `pods "Unknown/errorGettingName" is forbidden: no`},
	}
	for _, tc := range tests {
		err := NewForbidden(tc.a, errors.New("no"))
		if !apierrors.IsForbidden(err) || err.Error() != tc.msg {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.msg)
		}
	}
	already := apierrors.NewForbidden(pods.GroupResource(), "x", errors.New("first"))
	if err := NewForbidden(&Attributes{Resource: pods, Name: "p"}, already); err != already {
		t.Errorf("a Forbidden error was wrapped again: %v", err)
	}
}

func TestWaitForReady(t *testing.T) {
	if !WaitForReady(context.Background(), nil) {
		t.Error("nil ready is not ready")
	}
	calls := 0
	if !WaitForReady(context.Background(), func() bool { calls++; return calls > 2 }) {
		t.Error("not ready once ready said so")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if WaitForReady(ctx, func() bool { return false }) {
		t.Error("ready though it never said so")
	}
}
