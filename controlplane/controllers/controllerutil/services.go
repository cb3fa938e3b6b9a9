package controllerutil

import (
	"time"

	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	esutil "k8s.io/endpointslice/util"
)

// PodServicesHandler returns pod event handlers that queue, after delay,
// the keys of the services whose endpoints a pod's change may move: those
// whose selector matches the pod before or after the change, when a field
// that endpoints show changed.
func PodServicesHandler(q Queue, services corelisters.ServiceLister, delay time.Duration) cache.ResourceEventHandlerFuncs {
	changed := func(old, cur any) {
		keys, err := esutil.GetServicesToUpdate(services, esutil.GetPodUpdateProjectionKey(old, cur))
		if err != nil {
			return
		}
		for key := range keys {
			q.AddAfter(key, delay)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { changed(nil, obj) },
		UpdateFunc: changed,
		DeleteFunc: func(obj any) { changed(obj, nil) },
	}
}
