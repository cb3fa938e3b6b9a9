package printers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// WatchConverter turns the objects of one watch stream into Tables the way
// kube-apiserver does for "kubectl get -w": the first Table carries the
// column definitions, later ones only rows. It is not safe for concurrent
// use; make one per watch.
type WatchConverter struct {
	opts Options
}

// NewWatchConverter returns a converter for one watch stream.
func NewWatchConverter(opts Options) *WatchConverter {
	return &WatchConverter{opts: opts}
}

// Convert returns the Table to send in place of a watch event's object. A
// *metav1.Status (an ERROR event) is returned unchanged. Headers are left
// out of every call after the first, whether or not it succeeded, as
// kube-apiserver does.
func (w *WatchConverter) Convert(obj runtime.Object) (runtime.Object, error) {
	opts := w.opts
	w.opts.NoHeaders = true
	if _, ok := obj.(*metav1.Status); ok {
		return obj, nil
	}
	table, err := ConvertToTable(obj, opts)
	if err != nil {
		return nil, err
	}
	return table, nil
}
