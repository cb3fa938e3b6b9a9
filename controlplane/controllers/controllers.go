// Package controllers holds what every controller shares: the Context they
// are built from (a clientset, shared informers, an event recorder, a
// logger) and the Manager that runs them, under one Lease-based leader
// election so that several servers run one active set. Each controller is
// a package below this one, built as a level-triggered reconcile loop over
// a rate-limited work queue of keys (see STYLE.md).
package controllers

import (
	"context"
	"log/slog"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
)

// Context is what a controller is built from. Controllers take informers
// from Informers before the manager starts it, so that each is shared.
type Context struct {
	Client kubernetes.Interface
	// Metadata reaches the metadata of every resource by group, version
	// and resource (the namespace controller and the garbage collector
	// need nothing else of objects they do not know).
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	// Recorder writes core/v1 Events (what kubectl describe shows), with
	// the controller's name as the source.
	Recorder func(component string) record.EventRecorder
	Logger   *slog.Logger
}

// Controller is one reconcile loop.
type Controller interface {
	// Name is the controller's name in logs, events and flags.
	Name() string
	// Start runs the controller until ctx is done; informers are started
	// and synced by the manager before it is called.
	Start(ctx context.Context) error
}
