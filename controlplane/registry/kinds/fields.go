package kinds

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// replicasField selects ReplicaSets and ReplicationControllers by
// status.replicas, as Kubernetes does.
func replicasField(obj runtime.Object) fields.Set {
	var n int32
	switch o := obj.(type) {
	case *corev1.ReplicationController:
		n = o.Status.Replicas
	case *appsv1.ReplicaSet:
		n = o.Status.Replicas
	}
	return fields.Set{"status.replicas": strconv.Itoa(int(n))}
}

// jobFields selects Jobs by status.successful.
func jobFields(obj runtime.Object) fields.Set {
	return fields.Set{"status.successful": strconv.Itoa(int(obj.(*batchv1.Job).Status.Succeeded))}
}
