// Package deployment rolls Deployments out through ReplicaSets, as
// Kubernetes' deployment controller does: one ReplicaSet per pod template,
// named <deployment>-<pod-template-hash>, numbered by the
// deployment.kubernetes.io/revision annotation; RollingUpdate within
// maxSurge and maxUnavailable, or Recreate; minReadySeconds; pause and
// resume; proportional scaling of a rollout in progress; revision history
// pruned to revisionHistoryLimit; the Progressing condition with
// progressDeadlineSeconds; and the status kubectl rollout status reads.
// kubectl rollout undo, which copies an old ReplicaSet's template back
// into the Deployment, makes that ReplicaSet the newest revision again.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in logs and events.
const Name = "deployment-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Config configures the controller; zero fields take defaults.
type Config struct {
	// Workers is how many Deployments are synced at once (default 5).
	Workers int
}

// Controller is the deployment controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	pods     corelisters.PodLister
	owners   controllerutil.Owners[*appsv1.Deployment]
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New returns a deployment controller over c's informers.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	dInf := c.Informers.Apps().V1().Deployments()
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	dc := &Controller{
		cfg:      cfg,
		client:   c.Client,
		dLister:  dInf.Lister(),
		rsLister: rsInf.Lister(),
		pods:     podInf.Lister(),
		synced:   []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(Name),
		recorder: c.Recorder(Name),
		log:      c.Logger.With("controller", Name),
		now:      time.Now,
	}
	dc.owners = controllerutil.OwnersFromLister(controllerKind.Kind, dc.dLister.Deployments,
		func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector })
	if _, err := dInf.Informer().AddEventHandler(controllerutil.EnqueueHandler(dc.queue, nil)); err != nil {
		return nil, fmt.Errorf("%s: watch deployments: %w", Name, err)
	}
	if _, err := rsInf.Informer().AddEventHandler(controllerutil.OwnedHandler(dc.queue, dc.owners, nil)); err != nil {
		return nil, fmt.Errorf("%s: watch replicasets: %w", Name, err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: dc.podDeleted}); err != nil {
		return nil, fmt.Errorf("%s: watch pods: %w", Name, err)
	}
	return dc, nil
}

// Constructor returns a controllers.Constructor that builds the
// controller with cfg.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// Name implements controllers.Controller.
func (dc *Controller) Name() string { return Name }

// Start implements controllers.Controller.
func (dc *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, dc.synced, dc.queue, dc.cfg.Workers, dc.log, dc.sync)
	return nil
}

// podDeleted wakes a Recreate Deployment, which waits for its old pods to
// be gone before it starts new ones.
func (dc *Controller) podDeleted(obj any) {
	pod, ok := controllerutil.Unwrap[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := dc.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d, ok := dc.owners.Of(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		controllerutil.Enqueue(dc.queue, d)
	}
}

// sync reconciles one Deployment.
func (dc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	cached, err := dc.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		dc.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return dc.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := dc.replicaSetsFor(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return dc.syncStatusOnly(ctx, d, rsList)
	}
	if err := dc.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return dc.syncScale(ctx, d, rsList)
	}
	scaling, err := dc.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return dc.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return dc.rolloutRecreate(ctx, d, rsList)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return dc.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("deployment %s: unknown strategy %q", key, d.Spec.Strategy.Type)
}

// replicaSetsFor returns the ReplicaSets d controls, adopting matching
// orphans and releasing ones that stopped matching. They are cached
// objects: copy before changing.
func (dc *Controller) replicaSetsFor(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := dc.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	claimer := &controllerutil.Claimer{
		Owner: d, Kind: controllerKind, Selector: sel,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return dc.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		},
	}
	return controllerutil.Claim(ctx, claimer, all, controllerutil.ReplicaSetPatcher(dc.client))
}

// oldPodsRunning reports whether pods of ReplicaSets other than newRS
// still exist (finished ones aside), which Recreate waits out.
func (dc *Controller) oldPodsRunning(ns string, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	if statusSum(old, actualReplicas) > 0 {
		return true, nil
	}
	owners := map[types.UID]bool{}
	for _, rs := range old {
		owners[rs.UID] = true
	}
	if newRS != nil {
		delete(owners, newRS.UID)
	}
	if len(owners) == 0 {
		return false, nil
	}
	pods, err := dc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && owners[ref.UID] && !controllerutil.IsPodTerminal(p) {
			return true, nil
		}
	}
	return false, nil
}

// updateStatus writes d's status (and its revision annotation, which
// Kubernetes writes with the status; an API server that keeps metadata out
// of status writes gets it as a patch). d takes the new resourceVersion.
func (dc *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := dc.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	if want, ok := d.Annotations[RevisionAnnotation]; ok && updated.Annotations[RevisionAnnotation] != want {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, RevisionAnnotation, want)
		updated, err = dc.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("set revision of deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	d.ResourceVersion = updated.ResourceVersion
	d.Annotations = updated.Annotations
	d.Status = updated.Status
	return nil
}
