// Package replicaset keeps the pods of ReplicaSets and
// ReplicationControllers: as many pods matching the selector as the spec
// asks for. It adopts matching orphans and releases pods that stop
// matching (ownerReferences), scales down unscheduled, not-ready and newer
// pods first, and uses expectations so that a slow watch never makes it
// create or delete a pod twice. Status carries replicas,
// fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
// minReadySeconds), terminatingReplicas, observedGeneration and a
// ReplicaFailure condition when creating or deleting fails.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Names of the two controllers this package builds.
const (
	ReplicaSetName            = "replicaset-controller"
	ReplicationControllerName = "replication-controller"
)

// Config configures a controller; zero fields take defaults.
type Config struct {
	// Workers is how many objects are synced at once (default 5).
	Workers int
	// BurstReplicas caps the pods created or deleted in one sync
	// (default 500).
	BurstReplicas int
}

// Controller keeps the pods of ReplicaSets (or ReplicationControllers).
type Controller struct {
	name     string
	cfg      Config
	client   kubernetes.Interface
	src      source
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    controllerutil.Queue
	expect   *controllerutil.Expectations
	podCtl   controllerutil.PodControl
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
}

var _ controllers.Controller = (*Controller)(nil)

// New returns the ReplicaSet controller.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	inf := c.Informers.Apps().V1().ReplicaSets()
	return build(c, cfg, ReplicaSetName, &replicaSets{client: c.Client, inf: inf.Informer(), lister: inf.Lister()})
}

// NewReplicationManager returns the ReplicationController controller.
func NewReplicationManager(c *controllers.Context, cfg Config) (*Controller, error) {
	inf := c.Informers.Core().V1().ReplicationControllers()
	return build(c, cfg, ReplicationControllerName, &replicationControllers{client: c.Client, inf: inf.Informer(), lister: inf.Lister()})
}

func build(c *controllers.Context, cfg Config, name string, src source) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 5
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = 500
	}
	podInf := c.Informers.Core().V1().Pods()
	rc := &Controller{
		name:     name,
		cfg:      cfg,
		client:   c.Client,
		src:      src,
		pods:     podInf.Lister(),
		synced:   []cache.InformerSynced{src.informer().HasSynced, podInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue(name),
		expect:   controllerutil.NewExpectations(),
		recorder: c.Recorder(name),
		log:      c.Logger.With("controller", name),
		now:      time.Now,
	}
	rc.podCtl = controllerutil.PodControl{Client: c.Client, Recorder: rc.recorder}
	if _, err := src.informer().AddEventHandler(controllerutil.EnqueueHandler(rc.queue, rc.expect)); err != nil {
		return nil, fmt.Errorf("%s: watch owners: %w", name, err)
	}
	owners := controllerutil.Owners[*appsv1.ReplicaSet]{Kind: src.kind().Kind, Get: src.get, List: src.list,
		Selector: func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }}
	if _, err := podInf.Informer().AddEventHandler(controllerutil.OwnedHandler(rc.queue, owners, rc.expect)); err != nil {
		return nil, fmt.Errorf("%s: watch pods: %w", name, err)
	}
	return rc, nil
}

// Name implements controllers.Controller.
func (rc *Controller) Name() string { return rc.name }

// Start implements controllers.Controller.
func (rc *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, rc.synced, rc.queue, rc.cfg.Workers, rc.log, rc.sync)
	return nil
}

// sync brings the object named by key to its desired number of pods and
// writes its status.
func (rc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := controllerutil.SplitKey(key)
	if err != nil {
		return nil
	}
	rs, err := rc.src.get(ns, name)
	if apierrors.IsNotFound(err) {
		rc.expect.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	needsSync := rc.expect.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return nil // validation keeps bad selectors out
	}
	all, err := rc.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var active, terminating []*corev1.Pod
	for _, p := range all {
		switch {
		case controllerutil.IsPodActive(p):
			active = append(active, p)
		case controllerutil.IsPodTerminating(p) && metav1.IsControlledBy(p, rs):
			terminating = append(terminating, p)
		}
	}
	claimer := &controllerutil.Claimer{
		Owner: rs, Kind: rc.src.kind(), Selector: selector,
		Fresh: func(ctx context.Context) (metav1.Object, error) { return rc.src.fresh(ctx, ns, name) },
	}
	owned, err := controllerutil.Claim(ctx, claimer, active, controllerutil.PodPatcher(rc.client))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = rc.manage(ctx, key, rs, owned)
	}
	status, next := rc.status(rs, owned, len(terminating), manageErr)
	if err := rc.writeStatus(ctx, rs, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr == nil && next > 0 {
		rc.queue.AddAfter(key, next)
	}
	return manageErr
}

// manage creates or deletes pods so that rs has its desired number.
func (rc *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	diff := len(pods) - int(ptr.Deref(rs.Spec.Replicas, 1))
	owner := rc.src.eventObject(rs)
	switch {
	case diff < 0:
		n := min(-diff, rc.cfg.BurstReplicas)
		rc.expect.Expect(key, n, nil)
		ref := metav1.NewControllerRef(rs, rc.src.kind())
		done, err := controllerutil.SlowStartBatch(n, 1, func() error {
			_, err := rc.podCtl.Create(ctx, owner, controllerutil.PodFromTemplate(&rs.Spec.Template, rs, ref))
			if apierrors.IsTimeout(err) {
				// The pod may exist: the informer will tell.
				return nil
			}
			return err
		})
		for range n - done {
			rc.expect.CreationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, rc.cfg.BurstReplicas)
		victims := podsToDelete(pods, rc.relatedPods(rs), n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = controllerutil.PodKey(p)
		}
		rc.expect.Expect(key, 0, keys)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Go(func() {
				if err := rc.podCtl.Delete(ctx, owner, p); err != nil {
					rc.expect.DeletionObserved(key, keys[i])
					errs[i] = err
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// relatedPods returns the active pods of rs and of the other objects its
// own controller (a Deployment) owns: a node that already runs several of
// them is where scaling down takes one first.
func (rc *Controller) relatedPods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	owners := map[string]bool{string(rs.UID): true}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if siblings, err := rc.src.list(rs.Namespace); err == nil {
			for _, s := range siblings {
				if r := metav1.GetControllerOfNoCopy(s); r != nil && r.UID == ref.UID {
					owners[string(s.UID)] = true
				}
			}
		}
	}
	all, err := rc.pods.Pods(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*corev1.Pod
	for _, p := range all {
		if r := metav1.GetControllerOfNoCopy(p); r != nil && owners[string(r.UID)] && controllerutil.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// status computes rs's status from its pods, and how long until a ready
// pod becomes available (0: none pending).
func (rc *Controller) status(rs *appsv1.ReplicaSet, pods []*corev1.Pod, terminating int, manageErr error) (appsv1.ReplicaSetStatus, time.Duration) {
	s := *rs.Status.DeepCopy()
	s.Replicas = int32(len(pods))
	s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas = 0, 0, 0
	if rc.src.countsTerminating() {
		s.TerminatingReplicas = ptr.To(int32(terminating))
	}
	template := labels.SelectorFromSet(rs.Spec.Template.Labels)
	now := rc.now()
	var next time.Duration
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			s.FullyLabeledReplicas++
		}
		wait, ready := controllerutil.UntilAvailable(p, rs.Spec.MinReadySeconds, now)
		if !ready {
			continue
		}
		s.ReadyReplicas++
		if wait == 0 {
			s.AvailableReplicas++
		} else if next == 0 || wait < next {
			next = wait
		}
	}
	failure := condition(s.Conditions, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(ptr.Deref(rs.Spec.Replicas, 1)) {
			reason = "FailedDelete"
		}
		s.Conditions = append(s.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var keep []appsv1.ReplicaSetCondition
		for _, c := range s.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				keep = append(keep, c)
			}
		}
		s.Conditions = keep
	}
	s.ObservedGeneration = rs.Generation
	return s, next
}

func condition(conds []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// writeStatus writes status unless rs already has it.
func (rc *Controller) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) error {
	if reflect.DeepEqual(rs.Status, status) {
		return nil
	}
	upd := rs.DeepCopy()
	upd.Status = status
	if _, err := rc.src.updateStatus(ctx, upd); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}

// Constructor returns a controllers.Constructor that builds the ReplicaSet
// controller with cfg.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// ReplicationManagerConstructor returns a controllers.Constructor that
// builds the ReplicationController controller with cfg.
func ReplicationManagerConstructor(cfg Config) controllers.Constructor {
	return controllers.ConstructorFor(NewReplicationManager, cfg)
}
