// Package statefulset runs StatefulSets as Kubernetes' stateful set
// controller does: pods with stable names <set>-<ordinal>, hostnames and
// the governing (headless) service as subdomain; OrderedReady management
// (create in ordinal order, each after its predecessors are running and
// ready; delete from the highest ordinal) or Parallel; ControllerRevisions
// of the template, with currentRevision and updateRevision in the status
// and controller-revision-hash on every pod; RollingUpdate from the
// highest ordinal down to the partition, within maxUnavailable; OnDelete.
// Volume claim templates are not handled: skiff serves no
// PersistentVolumeClaims yet.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in logs and events.
const Name = "statefulset-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Config configures the controller; zero fields take defaults.
type Config struct {
	// Workers is how many StatefulSets are synced at once (default 5).
	Workers int
}

// Controller is the stateful set controller.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	setLister appslisters.StatefulSetLister
	revLister appslisters.ControllerRevisionLister
	pods      corelisters.PodLister
	owners    controllerutil.Owners[*appsv1.StatefulSet]
	synced    []cache.InformerSynced
	queue     controllerutil.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New returns a stateful set controller over c's informers.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	setInf := c.Informers.Apps().V1().StatefulSets()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	podInf := c.Informers.Core().V1().Pods()
	sc := &Controller{
		cfg:       cfg,
		client:    c.Client,
		setLister: setInf.Lister(),
		revLister: revInf.Lister(),
		pods:      podInf.Lister(),
		synced:    []cache.InformerSynced{setInf.Informer().HasSynced, revInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     controllerutil.NewQueue(Name),
		recorder:  c.Recorder(Name),
		log:       c.Logger.With("controller", Name),
		now:       time.Now,
	}
	sc.owners = controllerutil.OwnersFromLister(controllerKind.Kind, sc.setLister.StatefulSets,
		func(set *appsv1.StatefulSet) *metav1.LabelSelector { return set.Spec.Selector })
	if _, err := setInf.Informer().AddEventHandler(controllerutil.EnqueueHandler(sc.queue, nil)); err != nil {
		return nil, fmt.Errorf("%s: watch statefulsets: %w", Name, err)
	}
	// Not controllerutil.OwnedHandler: pods have fixed names here, so an
	// orphan's every change, its deletion included, may unblock a set.
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sc.podChanged, UpdateFunc: sc.podUpdated, DeleteFunc: sc.podChanged,
	}); err != nil {
		return nil, fmt.Errorf("%s: watch pods: %w", Name, err)
	}
	return sc, nil
}

// Constructor returns a controllers.Constructor that builds the
// controller with cfg.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// Name implements controllers.Controller.
func (sc *Controller) Name() string { return Name }

// Start implements controllers.Controller.
func (sc *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, sc.synced, sc.queue, sc.cfg.Workers, sc.log, sc.sync)
	return nil
}

// podChanged queues the set that owns a pod, or the sets that may adopt
// an orphan.
func (sc *Controller) podChanged(obj any) {
	pod, ok := controllerutil.Unwrap[*corev1.Pod](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set, ok := sc.owners.Of(pod.Namespace, ref); ok {
			controllerutil.Enqueue(sc.queue, set)
		}
		return
	}
	for _, set := range sc.owners.Matching(pod.Namespace, pod.Labels) {
		controllerutil.Enqueue(sc.queue, set)
	}
}

func (sc *Controller) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if !reflect.DeepEqual(metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)) {
		sc.podChanged(old)
	}
	sc.podChanged(cur)
}

// sync reconciles one StatefulSet.
func (sc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	cached, err := sc.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		sc.recorder.Eventf(set, corev1.EventTypeWarning, "InvalidSelector", "Invalid or empty selector: %v", err)
		return nil
	}
	claimer := &controllerutil.Claimer{
		Owner: set, Kind: controllerKind, Selector: sel,
		Fresh: func(ctx context.Context) (metav1.Object, error) {
			return sc.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
	}
	allRevs, err := sc.revLister.ControllerRevisions(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	revs, err := controllerutil.Claim(ctx, claimer, allRevs, controllerutil.RevisionPatcher(sc.client))
	if err != nil {
		return err
	}
	allPods, err := sc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var members []*corev1.Pod
	for _, p := range allPods {
		if parent, _ := parentAndOrdinal(p); parent == set.Name {
			members = append(members, p)
		}
	}
	pods, err := controllerutil.Claim(ctx, claimer, members, controllerutil.PodPatcher(sc.client))
	if err != nil {
		return err
	}
	controllerutil.SortRevisions(revs)
	current, update, collisions, err := sc.revisions(ctx, set, revs)
	if err != nil {
		return err
	}
	status, err := sc.update(ctx, set, pods, current, update, collisions)
	if status != nil {
		err = errors.Join(err, sc.writeStatus(ctx, set, *status))
	}
	err = errors.Join(err, sc.truncateHistory(ctx, set, pods, revs, current, update))
	if err == nil && status != nil && set.Spec.MinReadySeconds > 0 && status.AvailableReplicas != *set.Spec.Replicas {
		sc.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return err
}

// update creates, deletes and updates set's pods one step towards the
// spec, and returns the status that results.
func (sc *Controller) update(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisions int32) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return nil, err
	}
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     update.Name,
		CollisionCount:     &collisions,
		Conditions:         set.Status.Conditions,
	}
	start, count := startOrdinal(set), int(*set.Spec.Replicas)
	replicas := make([]*corev1.Pod, count)
	var condemned []*corev1.Pod
	for _, p := range pods {
		switch ord := ordinal(p); {
		case ord >= start && ord < start+count:
			replicas[ord-start] = p
		case ord >= 0:
			condemned = append(condemned, p)
		}
	}
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(currentSet, updateSet, current.Name, update.Name, start+i)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinal(condemned[i]) > ordinal(condemned[j]) })
	var firstUnhealthy *corev1.Pod
	for _, p := range replicas {
		if !isHealthy(p) {
			firstUnhealthy = p
			break
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnhealthy == nil; i-- {
		if !isHealthy(condemned[i]) {
			firstUnhealthy = condemned[i]
		}
	}
	sc.countReplicas(set, status, current, update, replicas, condemned)
	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	for i := range replicas {
		stop, err := sc.processReplica(ctx, set, updateSet, monotonic, replicas, i)
		if err != nil || (stop && monotonic) {
			sc.countReplicas(set, status, current, update, replicas, condemned)
			return status, err
		}
	}
	var errs []error
	for _, p := range condemned {
		stop, err := sc.processCondemned(ctx, set, firstUnhealthy, monotonic, p)
		if err != nil {
			errs = append(errs, err)
		}
		if (stop || err != nil) && monotonic {
			break
		}
	}
	sc.countReplicas(set, status, current, update, replicas, condemned)
	if err := errors.Join(errs...); err != nil || (monotonic && len(condemned) > 0) {
		return status, err
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, nil
	}
	return status, sc.rollingUpdate(ctx, set, replicas, update, status)
}

// processReplica brings the pod at index i to life and identity. stop
// reports that, in ordered mode, nothing further may happen this sync.
func (sc *Controller) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, monotonic bool, replicas []*corev1.Pod, i int) (stop bool, err error) {
	pod := replicas[i]
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		// A pod that ended is replaced by a new one of the same name once
		// it is gone.
		if pod.DeletionTimestamp == nil {
			sc.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingTerminatedPod", "StatefulSet %s/%s is recreating terminated Pod %s", set.Namespace, set.Name, pod.Name)
			if err := sc.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		created, err := sc.createPod(ctx, set, pod)
		if err != nil {
			return true, err
		}
		replicas[i] = created
		return monotonic, nil
	}
	if monotonic && (isTerminating(pod) || !isRunningAndReady(pod) || !isAvailable(set, pod, sc.now())) {
		return true, nil
	}
	if identityMatches(set, pod) {
		return false, nil
	}
	upd := pod.DeepCopy()
	setIdentity(updateSet, upd, ordinal(upd))
	updated, err := sc.client.CoreV1().Pods(upd.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		sc.podEvent(set, pod, "update", err)
		return true, fmt.Errorf("update pod %s: %w", controllerutil.PodKey(pod), err)
	}
	replicas[i] = updated
	return false, nil
}

// processCondemned deletes a pod whose ordinal is beyond the replicas; in
// ordered mode only when it is healthy (or the first unhealthy pod) and
// nothing else is terminating.
func (sc *Controller) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnhealthy *corev1.Pod, monotonic bool, pod *corev1.Pod) (stop bool, err error) {
	if isTerminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnhealthy && (!isRunningAndReady(pod) || !isAvailable(set, pod, sc.now())) {
		return true, nil
	}
	return true, sc.deletePod(ctx, set, pod)
}

// rollingUpdate deletes pods not at the update revision, from the highest
// ordinal down to the partition, while fewer than maxUnavailable pods are
// unavailable; the next syncs recreate them at the update revision.
func (sc *Controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicas []*corev1.Pod, update *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus) error {
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, len(replicas), false)
			if err != nil {
				return fmt.Errorf("maxUnavailable: %w", err)
			}
			maxUnavailable = max(n, 1)
		}
	}
	now := sc.now()
	unavailable := 0
	for _, p := range replicas {
		if isTerminating(p) || !isAvailable(set, p, now) {
			unavailable++
		}
	}
	for i := len(replicas) - 1; i >= partition && unavailable < maxUnavailable; i-- {
		p := replicas[i]
		if podRevision(p) == update.Name || isTerminating(p) {
			continue
		}
		if err := sc.deletePod(ctx, set, p); err != nil {
			return err
		}
		unavailable++
		status.CurrentReplicas--
	}
	return nil
}

// countReplicas sets the pod counts of status from the pods.
func (sc *Controller) countReplicas(set *appsv1.StatefulSet, s *appsv1.StatefulSetStatus, current, update *appsv1.ControllerRevision, lists ...[]*corev1.Pod) {
	s.Replicas, s.ReadyReplicas, s.AvailableReplicas, s.CurrentReplicas, s.UpdatedReplicas = 0, 0, 0, 0, 0
	now := sc.now()
	for _, list := range lists {
		for _, p := range list {
			if !isCreated(p) {
				continue
			}
			s.Replicas++
			if isRunningAndReady(p) {
				s.ReadyReplicas++
				if isAvailable(set, p, now) {
					s.AvailableReplicas++
				}
			}
			if !isTerminating(p) && podRevision(p) == current.Name {
				s.CurrentReplicas++
			}
			if !isTerminating(p) && podRevision(p) == update.Name {
				s.UpdatedReplicas++
			}
		}
	}
}

// writeStatus completes a finished rolling update (the update revision
// becomes the current one) and writes status if it changed.
func (sc *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, s appsv1.StatefulSetStatus) error {
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		s.UpdatedReplicas == s.Replicas && s.ReadyReplicas == s.Replicas {
		s.CurrentReplicas = s.UpdatedReplicas
		s.CurrentRevision = s.UpdateRevision
	}
	if reflect.DeepEqual(set.Status, s) {
		return nil
	}
	upd := set.DeepCopy()
	upd.Status = s
	if _, err := sc.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}

func (sc *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) (*corev1.Pod, error) {
	created, err := sc.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// The cache has not seen it yet.
		return nil, err
	}
	sc.podEvent(set, pod, "create", err)
	if err != nil {
		return nil, fmt.Errorf("create pod %s: %w", controllerutil.PodKey(pod), err)
	}
	return created, nil
}

func (sc *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	err := sc.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	sc.podEvent(set, pod, "delete", err)
	if err != nil {
		return fmt.Errorf("delete pod %s: %w", controllerutil.PodKey(pod), err)
	}
	return nil
}

// podEvent records what Kubernetes records for a pod operation.
func (sc *Controller) podEvent(set *appsv1.StatefulSet, pod *corev1.Pod, verb string, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		sc.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title, "%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name)
		return
	}
	sc.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title, "%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err)
}
