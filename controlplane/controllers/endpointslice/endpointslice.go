// Package endpointslice keeps the discovery.k8s.io/v1 EndpointSlices of
// every Service with a selector in line with the pods it selects, with the
// reconciler kube-controller-manager uses (k8s.io/endpointslice): one
// endpoint per pod with an IP, its ready, serving and terminating
// conditions, named target ports resolved per pod, publishNotReadyAddresses
// honoured. Topology hints are off. The slices are labelled managed-by
// endpointslice-controller.k8s.io, as Kubernetes does, so that consumers
// written for Kubernetes (kube-proxy, skiff's dataplane) read them as they
// are.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	reconciler "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
// slices this controller owns: Kubernetes' own, so that slices move
// between the two unchanged.
const ManagedBy = "endpointslice-controller.k8s.io"

// sliceChangeDelay batches the syncs that changes to our own slices
// trigger, as Kubernetes does.
const sliceChangeDelay = time.Second

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Workers is the number of services synced at once (default 5).
	Workers int
	// MaxEndpointsPerSlice caps a slice (default 100, Kubernetes' default).
	MaxEndpointsPerSlice int32
	// BatchPeriod delays the sync a pod change triggers, so that several
	// changes make one write (default 0: at once).
	BatchPeriod time.Duration
	// QueueMetrics, when set, receives the work queue's metrics (depth,
	// latency, work duration).
	QueueMetrics workqueue.MetricsProvider
}

// Controller is the EndpointSlice controller.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	log        *slog.Logger
	recorder   record.EventRecorder
	services   corelisters.ServiceLister
	pods       corelisters.PodLister
	slices     discoverylisters.EndpointSliceLister
	synced     []cache.InformerSynced
	queue      controllerutil.Queue
	reconciler *reconciler.Reconciler
	tracker    *esutil.EndpointSliceTracker
	triggers   *esutil.TriggerTimeTracker
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.MaxEndpointsPerSlice <= 0 {
		cfg.MaxEndpointsPerSlice = 100
	}
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	sliceInf := c.Informers.Discovery().V1().EndpointSlices()
	ctrl := &Controller{
		cfg:      cfg,
		client:   c.Client,
		log:      c.Logger.With("controller", "endpointslice"),
		recorder: c.Recorder("endpointslice-controller"),
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		slices:   sliceInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue:    controllerutil.NewBackoffQueue[string]("endpointslice", 5*time.Millisecond, 30*time.Second, cfg.QueueMetrics),
		tracker:  esutil.NewEndpointSliceTracker(),
		triggers: esutil.NewTriggerTimeTracker(),
	}
	ctrl.reconciler = reconciler.NewReconciler(c.Client, nodeInf.Lister(), cfg.MaxEndpointsPerSlice,
		ctrl.tracker, nil, ctrl.recorder, ManagedBy)

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), controllerutil.EnqueueHandler(ctrl.queue, nil)},
		{podInf.Informer(), controllerutil.PodServicesHandler(ctrl.queue, ctrl.services, cfg.BatchPeriod)},
		{sliceInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    ctrl.sliceAdded,
			UpdateFunc: ctrl.sliceUpdated,
			DeleteFunc: ctrl.sliceDeleted,
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("endpointslice: add event handler: %w", err)
		}
	}
	return ctrl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return "endpointslice" }

// Start syncs services until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	logger := logr.FromSlogHandler(c.log.Handler())
	controllerutil.Run(ctx, c.synced, c.queue, c.cfg.Workers, c.log, func(_ context.Context, key string) error {
		return c.sync(logger, key)
	})
	return nil
}

// sync brings the slices of the service named by key in line with its
// pods.
func (c *Controller) sync(logger logr.Logger, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The slices are owned by the Service: the garbage collector
		// deletes them.
		c.triggers.DeleteService(ns, name)
		c.reconciler.DeleteService(ns, name)
		c.tracker.DeleteService(ns, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	slices, err := c.slices.EndpointSlices(ns).List(labels.Set{
		discovery.LabelServiceName: name,
		discovery.LabelManagedBy:   ManagedBy,
	}.AsSelectorPreValidated())
	if err != nil {
		return err
	}
	live := slices[:0:0]
	for _, s := range slices {
		if s.DeletionTimestamp == nil {
			live = append(live, s)
		}
	}
	if c.tracker.StaleSlices(svc, live) {
		return errors.New("endpointslice cache is behind our own writes")
	}
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(ns, svc, pods)
	if err := c.reconciler.Reconcile(logger, svc, pods, live, trigger); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", ns, name, err)
		return fmt.Errorf("reconcile slices of %s: %w", key, err)
	}
	return nil
}

func (c *Controller) sliceAdded(obj any) {
	s := obj.(*discovery.EndpointSlice)
	if c.reconciler.ManagedByController(s) && c.tracker.ShouldSync(s) {
		c.enqueueForSlice(s)
	}
}

func (c *Controller) sliceUpdated(old, cur any) {
	prev, s := old.(*discovery.EndpointSlice), cur.(*discovery.EndpointSlice)
	if prev.Labels[discovery.LabelServiceName] != s.Labels[discovery.LabelServiceName] {
		c.enqueueForSlice(prev)
		c.enqueueForSlice(s)
		return
	}
	if c.reconciler.ManagedByChanged(prev, s) || (c.reconciler.ManagedByController(s) && c.tracker.ShouldSync(s)) {
		c.enqueueForSlice(s)
	}
}

func (c *Controller) sliceDeleted(obj any) {
	s, ok := controllerutil.Unwrap[*discovery.EndpointSlice](obj)
	if !ok {
		return
	}
	if c.reconciler.ManagedByController(s) && c.tracker.Has(s) && !c.tracker.HandleDeletion(s) {
		c.enqueueForSlice(s)
	}
}

// enqueueForSlice queues the service of a slice changed by someone else.
func (c *Controller) enqueueForSlice(s *discovery.EndpointSlice) {
	key, err := reconciler.ServiceControllerKey(s)
	if err != nil {
		return
	}
	c.queue.AddAfter(key, max(sliceChangeDelay, c.cfg.BatchPeriod))
}
