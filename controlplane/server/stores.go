package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"skiff.dev/skiff/controlplane/admission"
	"skiff.dev/skiff/controlplane/apis"
	"skiff.dev/skiff/controlplane/openapi"
	"skiff.dev/skiff/controlplane/registry"
	"skiff.dev/skiff/controlplane/registry/allocator"
	"skiff.dev/skiff/controlplane/registry/kinds"
	"skiff.dev/skiff/controlplane/storage"
)

// builtStores are the REST stores of every served resource and the OpenAPI
// handler describing them.
type builtStores struct {
	stores  []*registry.Store
	openapi http.Handler
}

// buildStores creates the object store, REST store and field managers of
// every resource, and starts the address allocators in g.
func buildStores(ctx context.Context, g *errgroup.Group, client *clientv3.Client, cfg Config, etcdLatency *prometheus.HistogramVec, chain *admission.Chain) (*builtStores, error) {
	ips, err := allocator.NewIPRange(client, "/registry/ranges/serviceips/", cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	ports, err := allocator.NewPortRange(client, "/registry/ranges/servicenodeports/", cfg.NodePortBase, cfg.NodePortSize)
	if err != nil {
		return nil, err
	}
	g.Go(func() error { return ips.Start(ctx) })
	g.Go(func() error { return ports.Start(ctx) })

	tc, err := openapi.NewTypeConverter()
	if err != nil {
		return nil, fmt.Errorf("openapi type converter: %w", err)
	}
	leases := storage.NewLeaseManager(client, cfg.EventTTL/20)
	proto := protobuf.NewSerializer(apis.Scheme, apis.Scheme)
	out := &builtStores{}
	var docs []openapi.Resource
	for _, r := range kinds.Resources(kinds.Config{ServiceIPs: ips, NodePorts: ports, EventTTL: cfg.EventTTL}) {
		prefix := r.StoragePrefix
		if prefix == "" {
			prefix = "/registry/" + r.Plural + "/"
		}
		// Objects served in one group version and stored in another (events)
		// convert through the scheme; the multi-group versioners let the
		// kind cross groups.
		var encodeTo, decodeTo runtime.GroupVersioner = r.GroupVersion, r.GroupVersion
		if !r.StorageVersion.Empty() {
			gk := r.GroupVersionKind().GroupKind()
			encodeTo = runtime.NewMultiGroupVersioner(r.StorageVersion, gk)
			decodeTo = runtime.NewMultiGroupVersioner(r.GroupVersion, r.StorageVersion.WithKind(r.Kind).GroupKind())
		}
		resource := r.Plural
		st, err := storage.New(storage.Config{
			Client:      client,
			Codec:       apis.Codecs.CodecForVersions(proto, proto, encodeTo, decodeTo),
			Prefix:      prefix,
			NewFunc:     r.New,
			NewListFunc: r.NewList,
			Leases:      leases,
			Observer: func(op string, seconds float64) {
				etcdLatency.WithLabelValues(op, resource).Observe(seconds)
			},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.GroupResource(), err)
		}
		rs := registry.NewStore(r, st, chain)
		if err := addFieldManagers(rs, tc); err != nil {
			return nil, err
		}
		out.stores = append(out.stores, rs)
		docs = append(docs, openapiResource(r))
	}
	if out.openapi, err = openapi.NewHandler(docs); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return out, nil
}

// addFieldManagers tracks managedFields on the main resource and, where
// there is one, the status subresource; each resets the fields the other
// owns, as Kubernetes does.
func addFieldManagers(rs *registry.Store, tc managedfields.TypeConverter) error {
	r := rs.Resource
	gvk := r.GroupVersionKind()
	version := fieldpath.APIVersion(r.GroupVersion.String())
	var mainReset, statusReset map[fieldpath.APIVersion]fieldpath.Filter
	if r.Status {
		mainReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
		statusReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(
				fieldpath.MakePathOrDie("spec"),
				fieldpath.MakePathOrDie("metadata", "labels"),
				fieldpath.MakePathOrDie("metadata", "annotations"),
			)),
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(tc, apis.Scheme, apis.Scheme, apis.Scheme, gvk, gvk.GroupVersion(), "", mainReset)
	if err != nil {
		return fmt.Errorf("field manager for %s: %w", gvk, err)
	}
	rs.SetFieldManager("", fm)
	if r.Status {
		sfm, err := managedfields.NewDefaultFieldManager(tc, apis.Scheme, apis.Scheme, apis.Scheme, gvk, gvk.GroupVersion(), "status", statusReset)
		if err != nil {
			return fmt.Errorf("status field manager for %s: %w", gvk, err)
		}
		rs.SetFieldManager("status", sfm)
	}
	return nil
}

// openapiResource describes a resource for the OpenAPI documents.
func openapiResource(r *registry.Resource) openapi.Resource {
	doc := openapi.Resource{
		GroupVersionKind: r.GroupVersionKind(), Plural: r.Plural, Namespaced: r.Namespaced,
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"},
	}
	if r.Verbs != nil {
		doc.Verbs = r.Verbs
	}
	rw := []string{"get", "update", "patch"}
	if r.Status {
		doc.Subresources = append(doc.Subresources, openapi.Subresource{Name: "status", Verbs: rw})
	}
	if r.Scale != nil {
		doc.Subresources = append(doc.Subresources, openapi.Subresource{Name: "scale", Verbs: rw,
			GroupVersionKind: autoscalingv1.SchemeGroupVersion.WithKind("Scale")})
	}
	names := make([]string, 0, len(r.Subresources))
	for name := range r.Subresources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sub := r.Subresources[name]
		doc.Subresources = append(doc.Subresources, openapi.Subresource{Name: name, GroupVersionKind: sub.Kind, Verbs: sub.Verbs})
	}
	return doc
}
