// Package k8stest drives client-go informers with a fake clientset in
// tests, closing the fake's gap between an informer's list and its watch.
package k8stest

import (
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Clientset is a fake clientset that knows which resources are watched.
type Clientset struct {
	*fake.Clientset
	mu      sync.Mutex
	watched map[string]bool
}

// NewClientset returns a fake clientset holding objs.
func NewClientset(objs ...runtime.Object) *Clientset {
	c := &Clientset{Clientset: fake.NewClientset(objs...), watched: make(map[string]bool)}
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := a.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		c.mu.Lock()
		c.watched[a.GetResource().Resource] = true
		c.mu.Unlock()
		return true, w, nil
	})
	return c
}

// WaitWatched waits until informers watch every named resource (e.g.
// "services", "endpointslices"): the fake does not replay changes made
// between an informer's list and its watch.
func (c *Clientset) WaitWatched(t testing.TB, resources ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		all := true
		for _, r := range resources {
			all = all && c.watched[r]
		}
		c.mu.Unlock()
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("informers never watched %v", resources)
		}
		time.Sleep(time.Millisecond)
	}
}
