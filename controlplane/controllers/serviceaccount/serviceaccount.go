// Package serviceaccount gives every active namespace its "default"
// ServiceAccount, and puts it back when it is deleted, as Kubernetes'
// service-account controller does. Terminating namespaces get none.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Config configures the controller. Zero fields take the defaults.
type Config struct {
	// Names are the service accounts each namespace gets (default
	// ["default"]).
	Names []string
	// Workers is the number of namespaces synced at once (default 2).
	Workers int
}

// Controller is the service-account controller.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	log        *slog.Logger
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      controllerutil.Queue
}

// New builds the controller over the shared informers of c.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if len(cfg.Names) == 0 {
		cfg.Names = []string{DefaultName}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	nsInf := c.Informers.Core().V1().Namespaces()
	saInf := c.Informers.Core().V1().ServiceAccounts()
	ctrl := &Controller{
		cfg:        cfg,
		client:     c.Client,
		log:        c.Logger.With("controller", "serviceaccount"),
		namespaces: nsInf.Lister(),
		accounts:   saInf.Lister(),
		synced:     []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		queue:      controllerutil.NewBackoffQueue[string]("serviceaccount", 10*time.Millisecond, 30*time.Second, nil),
	}
	enqueueNS := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			ctrl.queue.Add(ns.Name)
		}
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueNS, UpdateFunc: func(_, cur any) { enqueueNS(cur) },
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount: add event handler: %w", err)
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if sa, ok := controllerutil.Unwrap[*corev1.ServiceAccount](obj); ok {
				ctrl.queue.Add(sa.Namespace)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount: add event handler: %w", err)
	}
	return ctrl, nil
}

// Name implements controllers.Controller.
func (c *Controller) Name() string { return "serviceaccount" }

// Start syncs namespaces until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	controllerutil.Run(ctx, c.synced, c.queue, c.cfg.Workers, c.log, c.sync)
	return nil
}

// sync creates the missing service accounts of an active namespace.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	for _, sa := range c.cfg.Names {
		if _, err := c.accounts.ServiceAccounts(name).Get(sa); err == nil {
			continue
		}
		_, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa},
		}, metav1.CreateOptions{})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause), apierrors.IsNotFound(err):
			// The namespace started terminating or went meanwhile.
			return nil
		default:
			return fmt.Errorf("create service account %s/%s: %w", name, sa, err)
		}
	}
	return nil
}
