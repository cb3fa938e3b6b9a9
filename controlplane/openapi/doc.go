// Package openapi builds and serves the OpenAPI v2 and v3 documents of
// skiff's apiserver, and the type converter that server-side apply uses.
//
// The schemas come from zz_generated.openapi.go, which kube-openapi's
// openapi-gen generates from the k8s.io/api packages of the served groups and
// the apimachinery packages they reference; definitions are named as
// Kubernetes names them (io.k8s.api.core.v1.Pod) and carry the
// x-kubernetes-patch-merge-key and x-kubernetes-patch-strategy extensions that
// kubectl needs to build strategic-merge patches. The apiserver passes in the
// resources it serves; the paths of the documents are built from them.
package openapi

//go:generate go tool openapi-gen --output-dir . --output-pkg skiff.dev/skiff/controlplane/openapi --output-file zz_generated.openapi.go --report-filename /dev/null k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/batch/v1 k8s.io/api/autoscaling/v1 k8s.io/api/autoscaling/v2 k8s.io/api/policy/v1 k8s.io/api/discovery/v1 k8s.io/api/coordination/v1 k8s.io/api/events/v1 k8s.io/api/scheduling/v1 k8s.io/api/scheduling/v1alpha3 k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/version k8s.io/metrics/pkg/apis/metrics/v1beta1
