package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
)

// deleter deletes the content of a namespace.
type deleter struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
}

// result is what one pass over a namespace's content found.
type result struct {
	discoveryErr error
	parseErrs    []error
	deleteErrs   []error
	// left counts the objects left per resource, and finalizers the
	// objects left per finalizer they carry.
	left       map[string]int
	finalizers map[string]int
}

// deleteAll deletes every namespaced object in ns once and counts what is
// left.
func (d *deleter) deleteAll(ctx context.Context, ns string) *result {
	res := &result{left: map[string]int{}, finalizers: map[string]int{}}
	lists, err := d.discovery.ServerPreferredNamespacedResources()
	if err != nil {
		// A partial failure still gives the groups that answered.
		res.discoveryErr = err
	}
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			res.parseErrs = append(res.parseErrs, err)
			continue
		}
		for _, r := range list.APIResources {
			verbs := r.Verbs
			if strings.Contains(r.Name, "/") || !slices.Contains(verbs, "list") ||
				!(slices.Contains(verbs, "delete") || slices.Contains(verbs, "deletecollection")) {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if err := d.deleteResource(ctx, ns, gvr, slices.Contains(verbs, "deletecollection"), opts, res); err != nil {
				res.deleteErrs = append(res.deleteErrs, fmt.Errorf("%s: %w", gvr.GroupResource(), err))
			}
		}
	}
	return res
}

// deleteResource deletes the objects of one resource in ns and records
// what is left.
func (d *deleter) deleteResource(ctx context.Context, ns string, gvr schema.GroupVersionResource, collection bool, opts metav1.DeleteOptions, res *result) error {
	client := d.metadata.Resource(gvr).Namespace(ns)
	if collection {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
			return err
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, item := range list.Items {
		if item.GetDeletionTimestamp() == nil {
			err := client.Delete(ctx, item.GetName(), opts)
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
				continue
			}
		}
		res.left[gvr.GroupResource().String()]++
		for _, f := range item.GetFinalizers() {
			res.finalizers[f]++
		}
	}
	return errors.Join(errs...)
}

// remaining tells whether objects are left.
func (r *result) remaining() bool { return len(r.left) > 0 }

// err is the error that keeps the namespace from being finalized.
func (r *result) err() error {
	errs := append([]error{r.discoveryErr}, r.parseErrs...)
	return errors.Join(append(errs, r.deleteErrs...)...)
}

// conditions are the namespace's deletion conditions for this result,
// worded as Kubernetes words them.
func (r *result) conditions() []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, bad bool, badReason, badMsg, okReason, okMsg string) corev1.NamespaceCondition {
		if bad {
			return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: badReason, Message: badMsg}
		}
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, Message: okMsg}
	}
	errText := func(errs []error) string {
		return errors.Join(errs...).Error()
	}
	var discoveryMsg string
	if r.discoveryErr != nil {
		discoveryMsg = "Discovery failed for some groups: " + r.discoveryErr.Error()
	}
	var parseMsg, deleteMsg string
	if len(r.parseErrs) > 0 {
		parseMsg = "Failed to parse group versions: " + errText(r.parseErrs)
	}
	if len(r.deleteErrs) > 0 {
		deleteMsg = fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(r.deleteErrs), errText(r.deleteErrs))
	}
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, r.discoveryErr != nil, "DiscoveryFailed", discoveryMsg,
			"ResourcesDiscovered", "All resources successfully discovered"),
		cond(corev1.NamespaceDeletionGVParsingFailure, len(r.parseErrs) > 0, "GroupVersionParsingFailed", parseMsg,
			"ParsedGroupVersions", "All legacy kube types successfully parsed"),
		cond(corev1.NamespaceDeletionContentFailure, len(r.deleteErrs) > 0, "ContentDeletionFailed", deleteMsg,
			"ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
		cond(corev1.NamespaceContentRemaining, len(r.left) > 0, "SomeResourcesRemain",
			"Some resources are remaining: "+counts(r.left, "%s has %d resource instances"),
			"ContentRemoved", "All content successfully removed"),
		cond(corev1.NamespaceFinalizersRemaining, len(r.finalizers) > 0, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+counts(r.finalizers, "%s in %d resource instances"),
			"ContentHasNoFinalizers", "All content-preserving finalizers finished"),
	}
}

// counts renders a count map in sorted order.
func counts(m map[string]int, format string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf(format, k, m[k])
	}
	return strings.Join(parts, ", ")
}
