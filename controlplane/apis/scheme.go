// Package apis names the API groups, versions and kinds skiff serves and
// builds the runtime.Scheme and codecs that every control-plane component
// shares, with the few objects every cluster has built in (the system
// priority classes). The objects themselves are the k8s.io/api types.
package apis

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// GroupVersions lists the group versions skiff serves, in discovery order.
var GroupVersions = []schema.GroupVersion{
	corev1.SchemeGroupVersion,
	appsv1.SchemeGroupVersion,
	batchv1.SchemeGroupVersion,
	autoscalingv2.SchemeGroupVersion,
	policyv1.SchemeGroupVersion,
	discoveryv1.SchemeGroupVersion,
	coordinationv1.SchemeGroupVersion,
	eventsv1.SchemeGroupVersion,
	schedulingv1.SchemeGroupVersion,
}

// NewScheme returns a scheme with every served group registered, plus the
// meta/v1 option and status types every group version needs.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		autoscalingv1.AddToScheme, // Scale subresource
		autoscalingv2.AddToScheme,
		policyv1.AddToScheme,
		discoveryv1.AddToScheme,
		coordinationv1.AddToScheme,
		eventsv1.AddToScheme,
		schedulingv1.AddToScheme,
		metricsv1beta1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	// meta.k8s.io/v1: Table and PartialObjectMetadata, and the options
	// types clients send without a kind (kubectl's delete body).
	utilruntime.Must(metav1.AddMetaToScheme(s))
	s.AddKnownTypes(metav1.SchemeGroupVersion, &metav1.DeleteOptions{}, &metav1.ListOptions{}, &metav1.GetOptions{},
		&metav1.CreateOptions{}, &metav1.UpdateOptions{}, &metav1.PatchOptions{})
	utilruntime.Must(addEventConversions(s))
	return s
}

// Scheme is the process-wide, read-only scheme built by NewScheme. It is
// never mutated after package initialisation.
var Scheme = NewScheme()

// Codecs serialises and deserialises the objects in Scheme as JSON, YAML and
// protobuf.
var Codecs = serializer.NewCodecFactory(Scheme)
