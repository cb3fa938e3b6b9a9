// Package disruption keeps the status of PodDisruptionBudgets, as
// Kubernetes' disruption controller does: how many selected pods are
// expected (from the scale of their controllers for maxUnavailable and
// percentages, from the pods themselves for an integer minAvailable), how
// many must stay healthy, how many are healthy (ready, not being deleted,
// not just evicted), and so how many disruptions the eviction API may
// allow now, with the DisruptionAllowed condition. Evictions recorded in
// status.disruptedPods expire when the pod goes or after two minutes.
package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// DeletionTimeout is how long an eviction recorded in disruptedPods
// counts the pod as disrupted if it is not deleted.
const DeletionTimeout = 2 * time.Minute

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Workers is the number of budgets synced at once (default 2).
	Workers int
}

// Controller is the disruption controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	log      *slog.Logger
	recorder record.EventRecorder
	pdbs     policylisters.PodDisruptionBudgetLister
	pods     corelisters.PodLister
	rcs      corelisters.ReplicationControllerLister
	rss      appslisters.ReplicaSetLister
	deps     appslisters.DeploymentLister
	sss      appslisters.StatefulSetLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	now      func() time.Time
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	f := c.Informers
	dc := &Controller{
		cfg:      cfg,
		client:   c.Client,
		log:      c.Logger.With("controller", "disruption"),
		recorder: c.Recorder("controllermanager"),
		pdbs:     f.Policy().V1().PodDisruptionBudgets().Lister(),
		pods:     f.Core().V1().Pods().Lister(),
		rcs:      f.Core().V1().ReplicationControllers().Lister(),
		rss:      f.Apps().V1().ReplicaSets().Lister(),
		deps:     f.Apps().V1().Deployments().Lister(),
		sss:      f.Apps().V1().StatefulSets().Lister(),
		queue:    controllerutil.NewQueue("disruption"),
		now:      time.Now,
	}
	podChanged := func(obj any) {
		if p, ok := controllerutil.Unwrap[*corev1.Pod](obj); ok {
			dc.enqueueForPod(p)
		}
	}
	// Scale changes of controllers move the expected count.
	controllerChanged := func(obj any) {
		if m, ok := controllerutil.Unwrap[metav1.Object](obj); ok {
			dc.enqueueNamespace(m.GetNamespace())
		}
	}
	for _, h := range []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{f.Policy().V1().PodDisruptionBudgets().Informer(), controllerutil.EnqueueHandler(dc.queue, nil)},
		{f.Core().V1().Pods().Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: podChanged, DeleteFunc: podChanged,
			UpdateFunc: func(old, cur any) { podChanged(old); podChanged(cur) }}},
		{f.Core().V1().ReplicationControllers().Informer(), scaleHandler(controllerChanged)},
		{f.Apps().V1().ReplicaSets().Informer(), scaleHandler(controllerChanged)},
		{f.Apps().V1().Deployments().Informer(), scaleHandler(controllerChanged)},
		{f.Apps().V1().StatefulSets().Informer(), scaleHandler(controllerChanged)},
	} {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("disruption: add event handler: %w", err)
		}
		dc.synced = append(dc.synced, h.inf.HasSynced)
	}
	return dc, nil
}

// scaleHandler calls changed for added and deleted controllers, and for
// updates that change their spec.
func scaleHandler(changed func(any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: changed, DeleteFunc: changed,
		UpdateFunc: func(old, cur any) {
			o, n := old.(metav1.Object), cur.(metav1.Object)
			if o.GetGeneration() != n.GetGeneration() {
				changed(cur)
			}
		},
	}
}

// Name implements controllers.Controller.
func (dc *Controller) Name() string { return "disruption" }

// Start keeps budget status current until ctx is done.
func (dc *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, dc.synced, dc.queue, dc.cfg.Workers, dc.log, dc.sync)
	return nil
}

func (dc *Controller) enqueueForPod(p *corev1.Pod) {
	list, err := dc.pdbs.PodDisruptionBudgets(p.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range list {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			controllerutil.Enqueue(dc.queue, pdb)
		}
	}
}

func (dc *Controller) enqueueNamespace(ns string) {
	list, err := dc.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range list {
		controllerutil.Enqueue(dc.queue, pdb)
	}
}

// errUnmanaged: the expected count needs the scale of a pod's
// controller, and a pod has none this controller knows.
var errUnmanaged = errors.New("found pods without a controller whose scale is known")

// sync recomputes one budget's status.
func (dc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	pdb, err := dc.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pods, err := dc.selectedPods(pdb)
	if err != nil {
		return err
	}
	now := dc.now()
	disrupted, recheck := activeDisruptions(pdb, pods, now)
	if recheck > 0 {
		dc.queue.AddAfter(key, recheck)
	}
	healthy := countHealthy(pods, disrupted)
	expected, desired, err := dc.expectations(pdb, pods)
	if err != nil {
		dc.recorder.Event(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed",
			fmt.Sprintf("Failed to calculate the number of expected pods: %v", err))
		return dc.writeStatus(ctx, pdb, policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: pdb.Generation, DisruptedPods: disrupted, CurrentHealthy: healthy,
			Conditions: pdb.Status.Conditions,
		}, policyv1.SyncFailedReason, err.Error())
	}
	allowed := max(0, healthy-desired)
	if expected <= 0 {
		allowed = 0
	}
	reason := policyv1.SufficientPodsReason
	if allowed == 0 {
		reason = policyv1.InsufficientPodsReason
	}
	return dc.writeStatus(ctx, pdb, policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         pdb.Status.Conditions,
	}, reason, "")
}

// writeStatus sets the DisruptionAllowed condition and writes the status
// if it changed.
func (dc *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, st policyv1.PodDisruptionBudgetStatus, reason, message string) error {
	st.Conditions = append([]metav1.Condition(nil), st.Conditions...)
	status := metav1.ConditionFalse
	if reason == policyv1.SufficientPodsReason {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: status, Reason: reason, Message: message,
		ObservedGeneration: pdb.Generation,
	})
	if apiequality.Semantic.DeepEqual(st, pdb.Status) {
		return nil
	}
	out := pdb.DeepCopy()
	out.Status = st
	if _, err := dc.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of budget %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	return nil
}

// selectedPods are the pods of the budget's namespace its selector picks;
// an empty selector picks none.
func (dc *Controller) selectedPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation keeps bad selectors out; an empty one matches nothing.
		return nil, nil
	}
	return dc.pods.Pods(pdb.Namespace).List(sel)
}

// expectations returns how many pods are expected and how many must be
// healthy.
func (dc *Controller) expectations(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, err = dc.expectedFromControllers(pods)
		if err != nil {
			return 0, 0, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, err
		}
		return expected, max(0, expected-int32(maxUnavailable)), nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil
	case pdb.Spec.MinAvailable != nil:
		expected, err = dc.expectedFromControllers(pods)
		if err != nil {
			return 0, 0, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, err
		}
		return expected, int32(minAvailable), nil
	}
	// Neither is set: the apiserver defaults minAvailable to 1.
	return int32(len(pods)), 1, nil
}

// expectedFromControllers sums the scale of the controllers of pods, each
// controller once.
func (dc *Controller) expectedFromControllers(pods []*corev1.Pod) (int32, error) {
	seen := map[types.UID]bool{}
	var total int32
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			return 0, errUnmanaged
		}
		uid, scale, err := dc.scaleOf(p.Namespace, ref)
		if err != nil {
			return 0, err
		}
		if !seen[uid] {
			seen[uid] = true
			total += scale
		}
	}
	return total, nil
}

// scaleOf finds the top controller of a pod (a Deployment over its
// ReplicaSet) and its desired replicas.
func (dc *Controller) scaleOf(ns string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	notFound := fmt.Errorf("%s %s/%s not found", ref.Kind, ns, ref.Name)
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := dc.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, notFound
		}
		if dref := metav1.GetControllerOfNoCopy(rs); dref != nil && dref.Kind == "Deployment" {
			d, err := dc.deps.Deployments(ns).Get(dref.Name)
			if err == nil && d.UID == dref.UID {
				return d.UID, replicas(d.Spec.Replicas), nil
			}
		}
		return rs.UID, replicas(rs.Spec.Replicas), nil
	case "ReplicationController":
		rc, err := dc.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, notFound
		}
		return rc.UID, replicas(rc.Spec.Replicas), nil
	case "StatefulSet":
		ss, err := dc.sss.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, notFound
		}
		return ss.UID, replicas(ss.Spec.Replicas), nil
	case "Deployment":
		d, err := dc.deps.Deployments(ns).Get(ref.Name)
		if err != nil || d.UID != ref.UID {
			return "", 0, notFound
		}
		return d.UID, replicas(d.Spec.Replicas), nil
	}
	return "", 0, fmt.Errorf("%w: %s %s", errUnmanaged, ref.Kind, ref.Name)
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// activeDisruptions keeps the evictions still pending: the pod exists, is
// not being deleted, and the eviction is younger than DeletionTimeout. It
// also returns when the oldest kept one expires.
func activeDisruptions(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Duration) {
	if len(pdb.Status.DisruptedPods) == 0 {
		return nil, 0
	}
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	out := map[string]metav1.Time{}
	recheck := time.Duration(math.MaxInt64)
	for name, at := range pdb.Status.DisruptedPods {
		p := byName[name]
		expires := at.Add(DeletionTimeout)
		if p == nil || p.DeletionTimestamp != nil || !now.Before(expires) {
			continue
		}
		out[name] = at
		recheck = min(recheck, expires.Sub(now))
	}
	if len(out) == 0 {
		return nil, 0
	}
	return out, recheck
}

// countHealthy counts the ready pods not being deleted nor just evicted.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time) int32 {
	var n int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, evicted := disrupted[p.Name]; evicted {
			continue
		}
		if controllerutil.IsPodReady(p) {
			n++
		}
	}
	return n
}
