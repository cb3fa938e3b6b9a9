package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// source is the kind of object the controller keeps replicas for. The
// controller works on ReplicaSets; ReplicationControllers are converted to
// ReplicaSets and back, as Kubernetes' replication manager does. The
// ReplicaSets it returns may be cached objects and must not be modified.
type source interface {
	kind() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	get(namespace, name string) (*appsv1.ReplicaSet, error)
	list(namespace string) ([]*appsv1.ReplicaSet, error)
	// fresh reads the object from the API server.
	fresh(ctx context.Context, namespace, name string) (metav1.Object, error)
	updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
	// eventObject is what events about rs are recorded on.
	eventObject(rs *appsv1.ReplicaSet) runtime.Object
	// countsTerminating tells whether the status has terminatingReplicas.
	countsTerminating() bool
}

type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func (s *replicaSets) kind() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (s *replicaSets) informer() cache.SharedIndexInformer { return s.inf }
func (s *replicaSets) get(ns, name string) (*appsv1.ReplicaSet, error) {
	return s.lister.ReplicaSets(ns).Get(name)
}
func (s *replicaSets) list(ns string) ([]*appsv1.ReplicaSet, error) {
	return s.lister.ReplicaSets(ns).List(labels.Everything())
}
func (s *replicaSets) fresh(ctx context.Context, ns, name string) (metav1.Object, error) {
	return s.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
}
func (s *replicaSets) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return s.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}
func (s *replicaSets) eventObject(rs *appsv1.ReplicaSet) runtime.Object { return rs }
func (s *replicaSets) countsTerminating() bool                          { return true }

type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister corelisters.ReplicationControllerLister
}

func (s *replicationControllers) kind() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (s *replicationControllers) informer() cache.SharedIndexInformer { return s.inf }
func (s *replicationControllers) get(ns, name string) (*appsv1.ReplicaSet, error) {
	rc, err := s.lister.ReplicationControllers(ns).Get(name)
	if err != nil {
		return nil, err
	}
	return rcToRS(rc), nil
}
func (s *replicationControllers) list(ns string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := s.lister.ReplicationControllers(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, len(rcs))
	for i, rc := range rcs {
		out[i] = rcToRS(rc)
	}
	return out, nil
}
func (s *replicationControllers) fresh(ctx context.Context, ns, name string) (metav1.Object, error) {
	return s.client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
}
func (s *replicationControllers) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	rc, err := s.lister.ReplicationControllers(rs.Namespace).Get(rs.Name)
	if err != nil {
		return nil, err
	}
	rc = rc.DeepCopy()
	rc.ResourceVersion = rs.ResourceVersion
	rc.Status = rsStatusToRC(rs.Status)
	updated, err := s.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return rcToRS(updated), nil
}
func (s *replicationControllers) eventObject(rs *appsv1.ReplicaSet) runtime.Object {
	return &corev1.ReplicationController{ObjectMeta: rs.ObjectMeta}
}
func (s *replicationControllers) countsTerminating() bool { return false }

// rcToRS returns a ReplicaSet equivalent to rc that shares nothing with it.
func rcToRS(in *corev1.ReplicationController) *appsv1.ReplicaSet {
	rc := in.DeepCopy()
	rs := &appsv1.ReplicaSet{
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
		if len(rc.Spec.Selector) == 0 {
			rs.Spec.Selector.MatchLabels = rc.Spec.Template.Labels
		}
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

func rsStatusToRC(s appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             s.Replicas,
		FullyLabeledReplicas: s.FullyLabeledReplicas,
		ReadyReplicas:        s.ReadyReplicas,
		AvailableReplicas:    s.AvailableReplicas,
		ObservedGeneration:   s.ObservedGeneration,
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}
