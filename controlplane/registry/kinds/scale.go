package kinds

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/registry"
)

// scaleOf builds the Scale view of a workload.
func scaleOf(m metav1.ObjectMeta, spec, status int32, sel *metav1.LabelSelector) (*autoscalingv1.Scale, error) {
	selector := ""
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("selector of %s/%s: %w", m.Namespace, m.Name, err)
		}
		selector = s.String()
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp,
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

var deploymentScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (*autoscalingv1.Scale, error) {
		d := obj.(*appsv1.Deployment)
		return scaleOf(d.ObjectMeta, replicas(d.Spec.Replicas), d.Status.Replicas, d.Spec.Selector)
	},
	SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
}

var replicaSetScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (*autoscalingv1.Scale, error) {
		r := obj.(*appsv1.ReplicaSet)
		return scaleOf(r.ObjectMeta, replicas(r.Spec.Replicas), r.Status.Replicas, r.Spec.Selector)
	},
	SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
}

var statefulSetScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (*autoscalingv1.Scale, error) {
		s := obj.(*appsv1.StatefulSet)
		return scaleOf(s.ObjectMeta, replicas(s.Spec.Replicas), s.Status.Replicas, s.Spec.Selector)
	},
	SetReplicas: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
}

var rcScale = &registry.ScaleAccessor{
	Get: func(obj runtime.Object) (*autoscalingv1.Scale, error) {
		rc := obj.(*corev1.ReplicationController)
		sc, err := scaleOf(rc.ObjectMeta, replicas(rc.Spec.Replicas), rc.Status.Replicas, nil)
		if err == nil {
			sc.Status.Selector = labels.SelectorFromSet(rc.Spec.Selector).String()
		}
		return sc, err
	},
	SetReplicas: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
}
