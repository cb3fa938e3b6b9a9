// Package resourcequota keeps the status of ResourceQuotas current, as
// Kubernetes' resource-quota controller does: status.hard mirrors
// spec.hard, and status.used holds, for every resource named there, what
// the namespace uses now: object counts (pods, services, count/<resource>
// [.<group>], ...), the compute requests and limits of its live pods,
// node ports and load balancers of its services, and the storage its
// claims request. Quota scopes (Terminating, NotTerminating, BestEffort,
// NotBestEffort, PriorityClass) narrow what pods count. Usage is
// recomputed whenever a counted object changes, and on a resync period.
// Enforcement at admission is the apiserver's, not this controller's.
package resourcequota

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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Workers is the number of quotas synced at once (default 2).
	Workers int
	// ResyncPeriod recomputes every quota this often (default 5m).
	ResyncPeriod time.Duration
}

// counted are the resources whose objects quotas may count, by the
// group/resource of count/<resource>.<group>; pods, services and claims
// also have usage beyond their count.
var counted = []schema.GroupVersionResource{
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Version: "v1", Resource: "replicationcontrollers"},
	{Version: "v1", Resource: "resourcequotas"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
}

// Controller is the resource-quota controller.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	quotas  corelisters.ResourceQuotaLister
	listers map[schema.GroupResource]cache.GenericLister
	synced  []cache.InformerSynced
	// own are the informers this controller runs itself: metadata-only
	// ones for the kinds it only counts.
	own   []cache.SharedIndexInformer
	queue controllerutil.Queue
}

// countedOnly are the kinds whose objects quotas only count and no other
// controller caches: watched as metadata, which is all a count needs.
var countedOnly = map[schema.GroupResource]bool{
	{Resource: "configmaps"}: true,
	{Resource: "secrets"}:    true,
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 5 * time.Minute
	}
	quotaInf := c.Informers.Core().V1().ResourceQuotas()
	rq := &Controller{
		cfg:     cfg,
		client:  c.Client,
		log:     c.Logger.With("controller", "resourcequota"),
		quotas:  quotaInf.Lister(),
		listers: map[schema.GroupResource]cache.GenericLister{},
		queue:   controllerutil.NewQueue("resourcequota"),
	}
	if _, err := quotaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controllerutil.Enqueue(rq.queue, obj) },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			if !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) || !apiequality.Semantic.DeepEqual(n.Spec.Hard, n.Status.Hard) {
				controllerutil.Enqueue(rq.queue, cur)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("resourcequota: watch quotas: %w", err)
	}
	rq.synced = append(rq.synced, quotaInf.Informer().HasSynced)
	served, err := servedResources(c.Client, counted)
	if err != nil {
		return nil, err
	}
	for _, gvr := range served {
		inf, err := rq.informer(c, gvr)
		if err != nil {
			return nil, err
		}
		if err := rq.watch(inf, gvr); err != nil {
			return nil, err
		}
	}
	return rq, nil
}

// servedResources keeps the resources of want the apiserver serves.
func servedResources(client kubernetes.Interface, want []schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	served := map[schema.GroupVersionResource]bool{}
	lists := map[string]bool{}
	for _, gvr := range want {
		gv := gvr.GroupVersion().String()
		if lists[gv] {
			continue
		}
		lists[gv] = true
		list, err := client.Discovery().ServerResourcesForGroupVersion(gv)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("resourcequota: discover %s: %w", gv, err)
		}
		for _, r := range list.APIResources {
			served[gvr.GroupVersion().WithResource(r.Name)] = true
		}
	}
	var out []schema.GroupVersionResource
	for _, gvr := range want {
		if served[gvr] {
			out = append(out, gvr)
		}
	}
	return out, nil
}

// informer returns the informer that lists the objects of gvr: the
// shared typed one, or a metadata-only one of its own for the kinds it
// only counts.
func (rq *Controller) informer(c *controllers.Context, gvr schema.GroupVersionResource) (informers.GenericInformer, error) {
	if !countedOnly[gvr.GroupResource()] {
		inf, err := c.Informers.ForResource(gvr)
		if err != nil {
			return nil, fmt.Errorf("resourcequota: informer for %s: %w", gvr, err)
		}
		return inf, nil
	}
	inf := metadatainformer.NewFilteredMetadataInformer(c.Metadata, gvr, metav1.NamespaceAll, rq.cfg.ResyncPeriod,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil)
	if err := inf.Informer().SetTransform(dropManagedFields); err != nil {
		return nil, fmt.Errorf("resourcequota: informer for %s: %w", gvr, err)
	}
	rq.own = append(rq.own, inf.Informer())
	return inf, nil
}

// dropManagedFields keeps a counted object's cached metadata small.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// watch lists the objects of gvr for counting and requeues the quotas of
// a namespace where one changes.
func (rq *Controller) watch(inf informers.GenericInformer, gvr schema.GroupVersionResource) error {
	rq.listers[gvr.GroupResource()] = inf.Lister()
	rq.synced = append(rq.synced, inf.Informer().HasSynced)
	changed := func(obj any) {
		if m, ok := controllerutil.Unwrap[metav1.Object](obj); ok {
			rq.enqueueNamespace(m.GetNamespace())
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: changed, DeleteFunc: changed,
		UpdateFunc: func(old, cur any) {
			o, n := old.(metav1.Object), cur.(metav1.Object)
			if o.GetResourceVersion() != n.GetResourceVersion() {
				changed(cur)
			}
		},
	}); err != nil {
		return fmt.Errorf("resourcequota: watch %s: %w", gvr, err)
	}
	return nil
}

func (rq *Controller) enqueueNamespace(ns string) {
	list, err := rq.quotas.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range list {
		controllerutil.Enqueue(rq.queue, q)
	}
}

// Name implements controllers.Controller.
func (rq *Controller) Name() string { return "resourcequota" }

// Start keeps quota status current until ctx is done.
func (rq *Controller) Start(ctx context.Context) error {
	for _, inf := range rq.own {
		go inf.Run(ctx.Done())
	}
	go func() {
		t := time.NewTicker(rq.cfg.ResyncPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				all, _ := rq.quotas.List(labels.Everything())
				for _, q := range all {
					controllerutil.Enqueue(rq.queue, q)
				}
			}
		}
	}()
	controllerutil.Run(ctx, rq.synced, rq.queue, rq.cfg.Workers, rq.log, rq.sync)
	return nil
}

// sync recomputes one quota's usage and writes it if it changed.
func (rq *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	quota, err := rq.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, err := rq.usage(quota)
	if err != nil {
		return err
	}
	status := corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard.DeepCopy(), Used: used}
	if apiequality.Semantic.DeepEqual(status, quota.Status) {
		return nil
	}
	out := quota.DeepCopy()
	out.Status = status
	if _, err := rq.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update quota %s status: %w", key, err)
	}
	return nil
}
