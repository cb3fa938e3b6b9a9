// Package garbagecollector deletes objects whose owners are gone, following
// ownerReferences as Kubernetes' garbage collector does. It discovers the
// served resources, watches the metadata of every object through a
// metadata-only informer per resource (the apiserver sends
// PartialObjectMetadata, never whole objects), and keeps an owner graph. Three
// propagation modes follow from the finalizers the apiserver records on a
// delete:
//   - background (no finalizer): the owner goes at once; its dependents,
//     their owners now absent, are deleted after it;
//   - foreground (foregroundDeletion): the owner stays, with a
//     deletionTimestamp, until every dependent whose reference has
//     blockOwnerDeletion is gone; all dependents are deleted;
//   - orphan (orphan): the dependents lose their reference to the owner,
//     then the finalizer goes and the owner with it.
//
// A dependent with another owner that still exists is kept, and only its
// references to absent owners are removed.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Config configures the collector.
type Config struct {
	// Metadata reads, patches and deletes the metadata of every
	// resource. Required.
	Metadata metadata.Interface
	// Discovery lists the served resources (default: the clientset's).
	Discovery discovery.DiscoveryInterface
	// Workers is the number of objects checked at once (default 5).
	Workers int
	// QueueMetrics, when set, receives the work queues' metrics.
	QueueMetrics workqueue.MetricsProvider
}

// Controller is the garbage collector.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	graph    *graph
	deleteQ  workqueue.TypedRateLimitingInterface[types.UID]
	orphanQ  workqueue.TypedRateLimitingInterface[types.UID]
	mapper   mapper
	monitors []cache.SharedIndexInformer
}

// New builds the collector. Its informers are its own (one per served
// resource, discovered in Start), not the shared typed ones.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Metadata == nil {
		return nil, errors.New("garbage collector: no metadata client")
	}
	if cfg.Discovery == nil {
		cfg.Discovery = c.Client.Discovery()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	gc := &Controller{
		cfg:     cfg,
		log:     c.Logger.With("controller", "garbagecollector"),
		deleteQ: controllerutil.NewBackoffQueue[types.UID]("garbage_collector_attempt_to_delete", 10*time.Millisecond, 30*time.Second, cfg.QueueMetrics),
		orphanQ: controllerutil.NewBackoffQueue[types.UID]("garbage_collector_attempt_to_orphan", 10*time.Millisecond, 30*time.Second, cfg.QueueMetrics),
	}
	gc.graph = newGraph(gc.deleteQ.Add, gc.orphanQ.Add)
	return gc, nil
}

// Name implements controllers.Controller.
func (gc *Controller) Name() string { return "garbagecollector" }

// Start discovers the resources, watches them, and collects garbage until
// ctx is done.
func (gc *Controller) Start(ctx context.Context) error {
	defer gc.deleteQ.ShutDown()
	defer gc.orphanQ.ShutDown()
	var resources []resource
	// Discovery may fail for a while at start; retry until it answers.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		var err error
		resources, err = discoverResources(gc.cfg.Discovery)
		if err != nil {
			gc.log.Info("resource discovery incomplete, retrying", "err", err)
		}
		return err == nil, nil
	})
	if err != nil {
		return nil
	}
	gc.mapper = newMapper(resources)
	for _, r := range resources {
		inf, err := gc.monitor(r)
		if err != nil {
			return err
		}
		gc.monitors = append(gc.monitors, inf)
		go inf.RunWithContext(ctx)
	}
	synced := make([]cache.InformerSynced, len(gc.monitors))
	for i, m := range gc.monitors {
		synced[i] = m.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	gc.log.Debug("garbage collector synced", "resources", len(resources), "objects", gc.graph.size())
	var wg sync.WaitGroup
	wg.Go(func() { controllerutil.Run(ctx, nil, gc.orphanQ, 1, gc.log, gc.attemptToOrphan) })
	controllerutil.Run(ctx, nil, gc.deleteQ, gc.cfg.Workers, gc.log, gc.attemptToDelete)
	wg.Wait()
	return nil
}

// monitor builds the metadata-only informer of one resource, feeding the
// graph.
func (gc *Controller) monitor(r resource) (cache.SharedIndexInformer, error) {
	inf := metadatainformer.NewFilteredMetadataInformer(gc.cfg.Metadata, r.gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	if err := inf.SetTransform(stripMetadata); err != nil {
		return nil, fmt.Errorf("garbage collector: %s: %w", r.gvr, err)
	}
	apiVersion := r.gvr.GroupVersion().String()
	observe := func(obj any) {
		if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
			gc.graph.observe(m, apiVersion, r.kind)
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, cur any) { observe(cur) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
				gc.graph.remove(m.UID)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("garbage collector: %s: %w", r.gvr, err)
	}
	return inf, nil
}
