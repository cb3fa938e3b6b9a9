package kinds

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/registry"
)

// eventStrategy makes events expire after the configured TTL.
type eventStrategy struct {
	registry.DefaultStrategy
	ttl int64
}

// TTL implements registry.TTLStrategy.
func (s *eventStrategy) TTL(runtime.Object) int64 { return s.ttl }

// events serves core/v1 Events, and the same objects as events.k8s.io/v1.
func events(c Config) []*registry.Resource {
	ttl := int64(c.EventTTL.Seconds())
	if ttl <= 0 {
		ttl = 3600
	}
	core := &registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion, Kind: "Event", Plural: "events", Singular: "event",
		Namespaced: true, ShortNames: []string{"ev"},
		New:      func() runtime.Object { return &corev1.Event{} },
		NewList:  func() runtime.Object { return &corev1.EventList{} },
		Strategy: &eventStrategy{DefaultStrategy: rules(registry.DefaultStrategy{Namespaced: true, Fields: coreEventFields}), ttl: ttl},
	}
	v1 := &registry.Resource{
		GroupVersion: eventsv1.SchemeGroupVersion, Kind: "Event", Plural: "events", Singular: "event",
		Namespaced: true, ShortNames: []string{"ev"},
		StoragePrefix: "/registry/events/", StorageVersion: corev1.SchemeGroupVersion,
		New:     func() runtime.Object { return &eventsv1.Event{} },
		NewList: func() runtime.Object { return &eventsv1.EventList{} },
		Strategy: &eventStrategy{DefaultStrategy: rules(registry.DefaultStrategy{Namespaced: true, Fields: func(obj runtime.Object) fields.Set {
			var e corev1.Event
			// Events select by their core/v1 field names in both versions.
			apis.EventsV1ToCoreEvent(obj.(*eventsv1.Event), &e)
			return coreEventFields(&e)
		}}), ttl: ttl},
	}
	return []*registry.Resource{core, v1}
}

func coreEventFields(obj runtime.Object) fields.Set {
	e := obj.(*corev1.Event)
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}
