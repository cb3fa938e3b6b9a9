// Package namespace finishes the deletion of namespaces, as Kubernetes'
// namespace controller does: when a namespace is Terminating and still
// carries the "kubernetes" finalizer, it deletes every namespaced object
// in it, resource by resource as discovery lists them, reports what is
// left and why in the namespace's conditions, and clears the finalizer
// (namespaces/finalize) once nothing is left, which lets the apiserver
// remove the namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Config configures the controller.
type Config struct {
	// Metadata lists and deletes the objects of every resource, by its
	// group, version and resource. Required.
	Metadata metadata.Interface
	// Discovery lists the served resources (default: the clientset's).
	Discovery discovery.DiscoveryInterface
	// Workers is the number of namespaces worked on at once (default 2).
	Workers int
	// MaxRecheck bounds the wait before a namespace with content left is
	// looked at again (default 5s; the wait starts at 50ms and doubles).
	MaxRecheck time.Duration
}

// Controller is the namespace controller.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	deleter *deleter
	synced  []cache.InformerSynced
	queue   controllerutil.Queue
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if cfg.Metadata == nil {
		return nil, errors.New("namespace controller: no metadata client")
	}
	if cfg.Discovery == nil {
		cfg.Discovery = c.Client.Discovery()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxRecheck <= 0 {
		cfg.MaxRecheck = 5 * time.Second
	}
	inf := c.Informers.Core().V1().Namespaces().Informer()
	ctrl := &Controller{
		cfg:     cfg,
		client:  c.Client,
		log:     c.Logger.With("controller", "namespace"),
		deleter: &deleter{client: c.Client, metadata: cfg.Metadata, discovery: cfg.Discovery},
		synced:  []cache.InformerSynced{inf.HasSynced},
		queue:   controllerutil.NewBackoffQueue[string]("namespace", 50*time.Millisecond, cfg.MaxRecheck, nil),
	}
	enqueue := func(obj any) {
		ns, ok := obj.(*corev1.Namespace)
		if ok && ns.DeletionTimestamp != nil {
			ctrl.queue.Add(ns.Name)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("namespace controller: add event handler: %w", err)
	}
	return ctrl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return "namespace" }

// Start works on terminating namespaces until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, c.synced, c.queue, c.cfg.Workers, c.log, c.sync)
	return nil
}

// sync empties a terminating namespace and finalizes it.
func (c *Controller) sync(ctx context.Context, name string) error {
	// Read the namespace live: a stale cache could finalize a namespace
	// whose deletion was cancelled by a recreate.
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace: %w", err)
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return nil
	}
	res := c.deleter.deleteAll(ctx, name)
	if err := c.updateConditions(ctx, ns, res.conditions()); err != nil {
		return err
	}
	if err := res.err(); err != nil {
		return err
	}
	if res.remaining() {
		return errContentRemains
	}
	return c.finalize(ctx, ns)
}

// errContentRemains has the namespace looked at again, with backoff up to
// MaxRecheck.
var errContentRemains = fmt.Errorf("content remains: %w", controllerutil.ErrRetry)

// finalize removes the kubernetes finalizer from spec.finalizers.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	out := ns.DeepCopy()
	out.Spec.Finalizers = nil
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			out.Spec.Finalizers = append(out.Spec.Finalizers, f)
		}
	}
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, out, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	return nil
}

// updateConditions writes the deletion conditions when they changed.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, conds []corev1.NamespaceCondition) error {
	out := ns.DeepCopy()
	changed := false
	now := metav1.Now()
	for _, want := range conds {
		i := findCondition(out.Status.Conditions, want.Type)
		if i < 0 {
			want.LastTransitionTime = now
			out.Status.Conditions = append(out.Status.Conditions, want)
			changed = true
			continue
		}
		cur := &out.Status.Conditions[i]
		if cur.Status == want.Status && cur.Reason == want.Reason && cur.Message == want.Message {
			continue
		}
		if cur.Status != want.Status {
			cur.LastTransitionTime = now
		}
		cur.Status, cur.Reason, cur.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	if !changed {
		return nil
	}
	_, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update namespace %s conditions: %w", ns.Name, err)
	}
	return nil
}

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) int {
	for i, c := range conds {
		if c.Type == t {
			return i
		}
	}
	return -1
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
