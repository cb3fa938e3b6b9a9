// Package endpoints keeps the core/v1 Endpoints object of every Service
// with a selector in line with the pods it selects, as Kubernetes'
// endpoints controller does: ready pods in addresses, not-ready ones in
// notReadyAddresses (all in addresses with publishNotReadyAddresses),
// terminating pods left out unless unready addresses are published, named
// target ports resolved per pod, subsets grouped by port set, at most 1000
// addresses with the over-capacity annotation past that.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	esutil "k8s.io/endpointslice/util"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

const (
	// maxCapacity is the most addresses an Endpoints object holds.
	maxCapacity = 1000
	// overCapacityAnnotation marks an Endpoints object cut at maxCapacity.
	overCapacityAnnotation = corev1.EndpointsOverCapacity
	// triggerTimeAnnotation records when the change that led to the
	// current endpoints happened.
	triggerTimeAnnotation = corev1.EndpointsLastChangeTriggerTime
	// headlessLabel marks the endpoints of a headless service.
	headlessLabel = corev1.IsHeadlessService
	// ManagedByLabel marks the Endpoints this controller writes (with
	// ManagedBy, as Kubernetes does); only those are deleted with their
	// service.
	ManagedByLabel = "endpoints.kubernetes.io/managed-by"
	// ManagedBy is ManagedByLabel's value.
	ManagedBy = "endpoint-controller"
)

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Workers is the number of services synced at once (default 5).
	Workers int
	// BatchPeriod delays the sync a pod change triggers (default 0).
	BatchPeriod time.Duration
	// QueueMetrics, when set, receives the work queue's metrics.
	QueueMetrics workqueue.MetricsProvider
}

// Controller is the Endpoints controller.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	log       *slog.Logger
	recorder  record.EventRecorder
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     controllerutil.Queue
	triggers  *esutil.TriggerTimeTracker
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	svcInf := c.Informers.Core().V1().Services()
	podInf := c.Informers.Core().V1().Pods()
	epInf := c.Informers.Core().V1().Endpoints()
	ctrl := &Controller{
		cfg:       cfg,
		client:    c.Client,
		log:       c.Logger.With("controller", "endpoints"),
		recorder:  c.Recorder("endpoint-controller"),
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		synced:    []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced},
		queue:     controllerutil.NewBackoffQueue[string]("endpoints", 5*time.Millisecond, 30*time.Second, cfg.QueueMetrics),
		triggers:  esutil.NewTriggerTimeTracker(),
	}
	if _, err := svcInf.Informer().AddEventHandler(controllerutil.EnqueueHandler(ctrl.queue, nil)); err != nil {
		return nil, fmt.Errorf("endpoints: add event handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(controllerutil.PodServicesHandler(ctrl.queue, ctrl.services, cfg.BatchPeriod)); err != nil {
		return nil, fmt.Errorf("endpoints: add event handler: %w", err)
	}
	// Endpoints changed or deleted behind our back are put right, and
	// ours left over from a service deleted while no controller ran go.
	enqueue := func(obj any) { controllerutil.Enqueue(ctrl.queue, obj) }
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ep, ok := obj.(*corev1.Endpoints); ok && ep.Labels[ManagedByLabel] == ManagedBy {
				enqueue(obj)
			}
		},
		UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("endpoints: add event handler: %w", err)
	}
	return ctrl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return "endpoints" }

// Start syncs services until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, c.synced, c.queue, c.cfg.Workers, c.log, c.sync)
	return nil
}

// sync writes the Endpoints of the service named by key.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.DeleteService(ns, name)
		// Endpoints carry no owner reference: delete ours with the service.
		ep, err := c.endpoints.Endpoints(ns).Get(name)
		if apierrors.IsNotFound(err) || (err == nil && ep.Labels[ManagedByLabel] != ManagedBy) {
			return nil
		}
		if err != nil {
			return err
		}
		err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &ep.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
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
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(ns, svc, pods)
	subsets, truncated := buildSubsets(svc, pods, maxCapacity)

	cur, err := c.endpoints.Endpoints(ns).Get(name)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return err
	}
	if create {
		cur = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	wantLabels := endpointsLabels(svc)
	_, wasTruncated := cur.Annotations[overCapacityAnnotation]
	if !create && wasTruncated == truncated &&
		apiequality.Semantic.DeepEqual(cur.Subsets, subsets) &&
		apiequality.Semantic.DeepEqual(nilIfEmpty(cur.Labels), nilIfEmpty(wantLabels)) {
		return nil
	}
	ep := cur.DeepCopy()
	ep.Subsets = subsets
	ep.Labels = wantLabels
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	if !trigger.IsZero() {
		ep.Annotations[triggerTimeAnnotation] = trigger.UTC().Format(time.RFC3339Nano)
	} else {
		delete(ep.Annotations, triggerTimeAnnotation)
	}
	if truncated {
		ep.Annotations[overCapacityAnnotation] = "truncated"
	} else {
		delete(ep.Annotations, overCapacityAnnotation)
	}
	if create {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{})
	} else {
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err != nil {
		// A conflict means our cache is behind: the informer brings the
		// object and the retry uses it.
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
		}
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	return nil
}

// endpointsLabels are the service's labels, plus the headless marker.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	out[ManagedByLabel] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[headlessLabel] = ""
	} else {
		delete(out, headlessLabel)
	}
	return out
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
