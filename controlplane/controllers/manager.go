package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
)

// Constructor builds a controller from the shared context.
type Constructor func(c *Context) (Controller, error)

// ConstructorFor returns a Constructor that builds a controller with
// newFn and cfg.
func ConstructorFor[C Controller, T any](newFn func(*Context, T) (C, error), cfg T) Constructor {
	return func(c *Context) (Controller, error) { return newFn(c, cfg) }
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Client   kubernetes.Interface
	Metadata metadata.Interface
	// Controllers are built in order each time this manager becomes the
	// leader.
	Controllers []Constructor
	// LeaderElection, when set, runs the controllers only while this
	// manager holds the Lease kube-system/<LeaseName>.
	LeaderElection bool
	LeaseName      string
	Identity       string
	// ResyncPeriod of the shared informers (0: none).
	ResyncPeriod time.Duration
	Logger       *slog.Logger
}

// Manager runs a set of controllers.
type Manager struct {
	cfg ManagerConfig
}

// NewManager returns a manager for cfg.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.LeaseName == "" {
		cfg.LeaseName = "skiff-controller-manager"
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg}
}

// Start runs the controllers until ctx is done: at once, or while leading.
func (m *Manager) Start(ctx context.Context) error {
	if !m.cfg.LeaderElection {
		return m.run(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(m.cfg.LeaseName),
		Client:     m.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.cfg.Identity},
	}
	for ctx.Err() == nil {
		// The leading callback runs the controllers in a goroutine of its
		// own; Run does not wait for it, so wait here for them to stop.
		runErr := make(chan error, 1)
		var leading atomic.Bool
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			ReleaseOnCancel: true, Name: m.cfg.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					leading.Store(true)
					m.cfg.Logger.Info("controllers leading", "identity", m.cfg.Identity)
					runErr <- m.run(lctx)
				},
				OnStoppedLeading: func() { m.cfg.Logger.Info("controllers stopped leading", "identity", m.cfg.Identity) },
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
		if leading.Load() {
			if err := <-runErr; err != nil {
				return err
			}
		}
	}
	return nil
}

// run builds the controllers over fresh informers and runs them.
func (m *Manager) run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(m.cfg.Client, m.cfg.ResyncPeriod)
	// The broadcaster stops after the controllers, so that their last
	// events are not refused.
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c := &Context{
		Client:    m.cfg.Client,
		Metadata:  m.cfg.Metadata,
		Informers: factory,
		Logger:    m.cfg.Logger,
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
	}
	var ctrls []Controller
	for _, build := range m.cfg.Controllers {
		ctrl, err := build(c)
		if err != nil {
			return err
		}
		ctrls = append(ctrls, ctrl)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, ctrl := range ctrls {
		g.Go(func() error {
			if err := ctrl.Start(ctx); err != nil {
				return fmt.Errorf("controller %s: %w", ctrl.Name(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

func metaFor(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: name}
}
