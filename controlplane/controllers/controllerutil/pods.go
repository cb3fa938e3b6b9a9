package controllerutil

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Event reasons shared by the controllers that create and delete pods.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
)

// ReadyCondition returns pod's Ready condition, or nil.
func ReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	c := ReadyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// UntilAvailable returns how long a ready pod still has to stay ready to
// be available (ready for at least minReadySeconds): zero when it already
// is, and ok false when it is not ready.
func UntilAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) (wait time.Duration, ok bool) {
	c := ReadyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return 0, false
	}
	if minReadySeconds == 0 {
		return 0, true
	}
	if c.LastTransitionTime.IsZero() {
		return time.Duration(minReadySeconds) * time.Second, true
	}
	avail := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if avail.Before(now) {
		return 0, true
	}
	return avail.Sub(now) + time.Millisecond, true
}

// IsPodAvailable reports whether pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	wait, ok := UntilAvailable(pod, minReadySeconds, now)
	return ok && wait == 0
}

// IsPodTerminal reports whether pod has finished (Succeeded or Failed).
func IsPodTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// IsPodActive reports whether pod counts as a replica: not finished and
// not being deleted.
func IsPodActive(pod *corev1.Pod) bool {
	return !IsPodTerminal(pod) && pod.DeletionTimestamp == nil
}

// IsPodTerminating reports whether pod is being deleted and has not
// finished yet.
func IsPodTerminating(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil && !IsPodTerminal(pod)
}

// PodKey is the namespace/name key of pod.
func PodKey(pod *corev1.Pod) string {
	return pod.Namespace + "/" + pod.Name
}

// PodFromTemplate returns a new pod for owner made from template: its
// labels, annotations, finalizers and spec, a name generated from the
// owner's, and ref as its controller.
func PodFromTemplate(template *corev1.PodTemplateSpec, owner metav1.Object, ref *metav1.OwnerReference) *corev1.Pod {
	t := template.DeepCopy()
	prefix := owner.GetName() + "-"
	if len(validation.IsDNS1123Subdomain(prefix+"a")) != 0 {
		prefix = owner.GetName()
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: prefix,
			Namespace:    owner.GetNamespace(),
			Labels:       t.Labels,
			Annotations:  t.Annotations,
			Finalizers:   t.Finalizers,
		},
		Spec: t.Spec,
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return pod
}

// PodControl creates and deletes pods for a controller and records the
// events kubectl describe shows on the owner.
type PodControl struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

// Create creates pod on behalf of owner.
func (p PodControl) Create(ctx context.Context, owner runtime.Object, pod *corev1.Pod) (*corev1.Pod, error) {
	created, err := p.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			p.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
		}
		return nil, fmt.Errorf("create pod: %w", err)
	}
	p.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulCreate, "Created pod: %s", created.Name)
	return created, nil
}

// Delete deletes pod on behalf of owner; a pod already gone is no error.
func (p PodControl) Delete(ctx context.Context, owner runtime.Object, pod *corev1.Pod) error {
	err := p.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		p.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s: %w", PodKey(pod), err)
	}
	p.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulDelete, "Deleted pod: %s", pod.Name)
	return nil
}
