// Package podautoscaler runs autoscaling/v2 HorizontalPodAutoscalers on
// CPU and memory, as Kubernetes' HPA controller does: every sync period it
// reads the target's scale, the selected pods and their use from a
// MetricsSource, computes the replicas that bring each metric to its
// target (utilization of requests or average value, within a tolerance,
// with Kubernetes' handling of missing and unready pods), takes the
// largest, applies the stabilization windows and rate policies of
// spec.behavior and the min/max bounds, scales the target, and reports it
// all in status and the AbleToScale, ScalingActive and ScalingLimited
// conditions. Without metrics it says so and leaves the target alone.
package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// PodUsage is what one pod uses, measured over Window up to Timestamp.
type PodUsage struct {
	CPUMilli    int64
	MemoryBytes int64
	Timestamp   time.Time
	Window      time.Duration
}

// MetricsSource gives the resource use of pods, as the resource-metrics
// API (metrics.k8s.io) serves what the node agents measure. A pod absent
// from the map has no figures yet.
type MetricsSource interface {
	PodUsage(ctx context.Context, namespace string, selector labels.Selector) (map[string]PodUsage, error)
}

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Metrics supplies pod usage; nil means none (every HPA reports that
	// it has no metrics).
	Metrics MetricsSource
	// SyncPeriod is how often each HPA is evaluated (default 15s).
	SyncPeriod time.Duration
	// Tolerance is the relative distance from the target within which
	// nothing changes (default 0.1).
	Tolerance float64
	// DownscaleStabilization is the default scale-down stabilization
	// window (default 5m).
	DownscaleStabilization time.Duration
	// CPUInitializationPeriod and InitialReadinessDelay decide which
	// starting pods' CPU figures are trusted (default 5m and 30s).
	CPUInitializationPeriod, InitialReadinessDelay time.Duration
	// Workers is the number of HPAs evaluated at once (default 5).
	Workers int
}

// Controller is the horizontal pod autoscaler.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	log      *slog.Logger
	recorder record.EventRecorder
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	calc     replicaCalc
	history  *history
	now      func() time.Time
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 15 * time.Second
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 0.1
	}
	if cfg.DownscaleStabilization <= 0 {
		cfg.DownscaleStabilization = 5 * time.Minute
	}
	if cfg.CPUInitializationPeriod <= 0 {
		cfg.CPUInitializationPeriod = 5 * time.Minute
	}
	if cfg.InitialReadinessDelay <= 0 {
		cfg.InitialReadinessDelay = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	hpaInf := c.Informers.Autoscaling().V2().HorizontalPodAutoscalers()
	podInf := c.Informers.Core().V1().Pods()
	a := &Controller{
		cfg:      cfg,
		client:   c.Client,
		log:      c.Logger.With("controller", "podautoscaler"),
		recorder: c.Recorder("horizontal-pod-autoscaler"),
		hpas:     hpaInf.Lister(),
		pods:     podInf.Lister(),
		synced:   []cache.InformerSynced{hpaInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue("horizontalpodautoscaler"),
		history:  newHistory(),
		now:      time.Now,
	}
	a.calc = replicaCalc{tolerance: cfg.Tolerance, cpuInitializationPeriod: cfg.CPUInitializationPeriod,
		readyDelay: cfg.InitialReadinessDelay, now: a.now}
	if _, err := hpaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controllerutil.Enqueue(a.queue, obj) },
		UpdateFunc: func(old, cur any) {
			if old.(*autoscalingv2.HorizontalPodAutoscaler).Generation != cur.(*autoscalingv2.HorizontalPodAutoscaler).Generation {
				controllerutil.Enqueue(a.queue, cur)
			}
		},
		DeleteFunc: func(obj any) {
			if key := controllerutil.Key(obj); key != "" {
				a.history.forget(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("podautoscaler: watch HPAs: %w", err)
	}
	return a, nil
}

// Name implements controllers.Controller.
func (a *Controller) Name() string { return "podautoscaler" }

// Start evaluates HPAs until ctx is done.
func (a *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, a.synced, a.queue, a.cfg.Workers, a.log, func(ctx context.Context, key string) error {
		err := a.sync(ctx, key)
		if !errors.Is(err, errGone) {
			// Evaluate again next period, whatever happened now.
			a.queue.AddAfter(key, a.cfg.SyncPeriod)
		}
		if errors.Is(err, errGone) || errors.Is(err, errReported) {
			return nil
		}
		return err
	})
	return nil
}

var (
	// errGone: the HPA no longer exists.
	errGone = errors.New("gone")
	// errReported: the failure is in the HPA's conditions; the next
	// period retries.
	errReported = errors.New("reported in status")
)

// sync evaluates one HPA.
func (a *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return errGone
	}
	cached, err := a.hpas.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		a.history.forget(key)
		return errGone
	}
	if err != nil {
		return err
	}
	hpa := cached.DeepCopy()
	now := a.now()
	hpa.Status.ObservedGeneration = &hpa.Generation

	scale, err := a.getScale(ctx, ns, hpa.Spec.ScaleTargetRef)
	if err != nil {
		a.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale",
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		return a.writeStatus(ctx, cached, hpa, errReported)
	}
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale",
		"the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	hpa.Status.CurrentReplicas = scale.Status.Replicas
	minReplicas := *ptrOr(hpa.Spec.MinReplicas, 1)
	maxReplicas := hpa.Spec.MaxReplicas

	var desired int32
	var reason string
	switch {
	case current == 0 && minReplicas != 0:
		// Scaled to zero by hand: autoscaling is off until it is back.
		hpa.Status.CurrentMetrics = nil
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled",
			"scaling is disabled since the replica count of the target is zero", now)
		desired = 0
	case current > maxReplicas:
		desired, reason = maxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minReplicas:
		desired, reason = minReplicas, "Current number of replicas below Spec.MinReplicas"
	default:
		proposed, metricName, statuses, err := a.replicasForMetrics(ctx, hpa, scale, current)
		hpa.Status.CurrentMetrics = statuses
		if proposed < 0 {
			hpa.Status.DesiredReplicas = current
			a.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return a.writeStatus(ctx, cached, hpa, errReported)
		}
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
			fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", metricName), now)
		desired = a.normalize(key, hpa, now, current, proposed, minReplicas, maxReplicas)
		reason = "All metrics below target"
		if desired > current {
			reason = fmt.Sprintf("%s above target", metricName)
		}
	}
	hpa.Status.DesiredReplicas = desired
	if desired != current {
		if err := a.updateScale(ctx, ns, hpa.Spec.ScaleTargetRef, scale, desired); err != nil {
			a.recorder.Event(hpa, corev1.EventTypeWarning, "FailedRescale", fmt.Sprintf("New size: %d; reason: %s; error: %v", desired, reason, err))
			setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale",
				fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			return a.writeStatus(ctx, cached, hpa, errReported)
		}
		a.history.record(key, now, current, desired)
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale",
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		a.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		t := metav1.NewTime(now)
		hpa.Status.LastScaleTime = &t
	}
	return a.writeStatus(ctx, cached, hpa, nil)
}

// normalize applies stabilization, rate policies and bounds to proposed,
// setting the AbleToScale and ScalingLimited conditions.
func (a *Controller) normalize(key string, hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time, current, proposed, minReplicas, maxReplicas int32) int32 {
	var b autoscalingv2.HorizontalPodAutoscalerBehavior
	if hpa.Spec.Behavior != nil {
		b = *hpa.Spec.Behavior
	}
	up := rules(b.ScaleUp, defaultScaleUp, 0)
	down := rules(b.ScaleDown, defaultScaleDown, int32(a.cfg.DownscaleStabilization/time.Second))
	stabilized, reason, msg := a.history.stabilize(key, now, current, proposed, up, down)
	if stabilized != proposed {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, msg, now)
	} else {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", msg, now)
	}
	limited, reason, msg := a.history.limit(key, now, current, stabilized, minReplicas, maxReplicas, up, down)
	status := corev1.ConditionFalse
	if limited != stabilized {
		status = corev1.ConditionTrue
	}
	setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, msg, now)
	return limited
}

// writeStatus writes the HPA's status if it changed, and returns result.
func (a *Controller) writeStatus(ctx context.Context, cached, hpa *autoscalingv2.HorizontalPodAutoscaler, result error) error {
	if apiequality.Semantic.DeepEqual(cached.Status, hpa.Status) {
		return result
	}
	if _, err := a.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil {
		return errors.Join(result, fmt.Errorf("update status of HPA %s/%s: %w", hpa.Namespace, hpa.Name, err))
	}
	return result
}

// getScale reads the scale subresource of the target.
func (a *Controller) getScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid API version %q: %w", ref.APIVersion, err)
	}
	opts := metav1.GetOptions{}
	switch (schema.GroupKind{Group: gv.Group, Kind: ref.Kind}) {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		return a.client.AppsV1().Deployments(ns).GetScale(ctx, ref.Name, opts)
	case schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}:
		return a.client.AppsV1().ReplicaSets(ns).GetScale(ctx, ref.Name, opts)
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return a.client.AppsV1().StatefulSets(ns).GetScale(ctx, ref.Name, opts)
	case schema.GroupKind{Kind: "ReplicationController"}:
		return a.client.CoreV1().ReplicationControllers(ns).GetScale(ctx, ref.Name, opts)
	}
	return nil, fmt.Errorf("unrecognized resource: %s %s has no scale subresource here", ref.APIVersion, ref.Kind)
}

// updateScale sets the target's replicas through its scale subresource.
func (a *Controller) updateScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference, scale *autoscalingv1.Scale, replicas int32) error {
	s := scale.DeepCopy()
	s.Spec.Replicas = replicas
	opts := metav1.UpdateOptions{}
	var err error
	switch ref.Kind {
	case "Deployment":
		_, err = a.client.AppsV1().Deployments(ns).UpdateScale(ctx, ref.Name, s, opts)
	case "ReplicaSet":
		_, err = a.client.AppsV1().ReplicaSets(ns).UpdateScale(ctx, ref.Name, s, opts)
	case "StatefulSet":
		_, err = a.client.AppsV1().StatefulSets(ns).UpdateScale(ctx, ref.Name, s, opts)
	case "ReplicationController":
		_, err = a.client.CoreV1().ReplicationControllers(ns).UpdateScale(ctx, ref.Name, s, opts)
	}
	return err
}

// setCondition sets a condition, keeping its transition time unless its
// status changes.
func setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) {
	for i := range hpa.Status.Conditions {
		c := &hpa.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now),
	})
}

func ptrOr[T any](p *T, def T) *T {
	if p == nil {
		return &def
	}
	return p
}
