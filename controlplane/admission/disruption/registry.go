package disruption

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/controlplane/registry"
)

// StorePods evicts through the apiserver's pod store: its deletes pass
// the admission chain and graceful deletion as a DELETE request does.
type StorePods struct {
	Store *registry.Store
	// Options carry the requesting user and field manager; DryRun comes
	// from the delete options.
	Options registry.WriteOptions
}

var _ Pods = StorePods{}

// Get implements Pods.
func (s StorePods) Get(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, err := s.Store.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("store %s holds %T, not pods", s.Store.Resource.GroupResource(), obj)
	}
	return pod, nil
}

// Delete implements Pods.
func (s StorePods) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error {
	o := s.Options
	o.DryRun = len(opts.DryRun) > 0
	_, _, err := s.Store.Delete(ctx, namespace, name, registry.DeleteOptions{WriteOptions: o, Options: opts})
	return err
}
