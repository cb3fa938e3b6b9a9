// Package nodeipam is the node IPAM controller: it gives every node a pod
// CIDR (spec.podCIDR and spec.podCIDRs) carved from the cluster CIDR, and
// takes it back when the node goes. The set in use is rebuilt from the
// nodes at start; a node that has a pod CIDR keeps it; no CIDR is given
// twice; when the range runs out, the node gets an event and a
// NetworkUnavailable condition and waits for a CIDR to be released.
package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/controllers/controllerutil"
)

// Name is the controller's name in logs, events and flags.
const Name = "node-ipam"

// Condition reasons and event reasons the controller writes.
const (
	ReasonNoCIDR       = "NoCIDRAvailable"
	ReasonCIDRAssigned = "CIDRAssigned"
	EventCIDRNotAvail  = "CIDRNotAvailable"
	EventCIDRConflict  = "CIDRAssignmentFailed"
)

// Config configures the controller.
type Config struct {
	// ClusterCIDR is the pod network (default 10.42.0.0/16, the server's
	// --cluster-cidr).
	ClusterCIDR netip.Prefix
	// NodeMaskSize is the prefix length of each node's CIDR (default 24).
	NodeMaskSize int
	// Workers bound the nodes handled at once (default 4).
	Workers int
}

// Controller is the node IPAM controller.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	log      *slog.Logger
	recorder record.EventRecorder
	nodes    corelisters.NodeLister
	queue    controllerutil.Queue
	alloc    *allocator
}

// New builds the controller on c's node informer.
func New(c *controllers.Context, cfg Config) (*Controller, error) {
	if !cfg.ClusterCIDR.IsValid() {
		cfg.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	}
	if cfg.NodeMaskSize == 0 {
		cfg.NodeMaskSize = 24
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	alloc, err := newAllocator(cfg.ClusterCIDR, cfg.NodeMaskSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	ctrl := &Controller{
		cfg:      cfg,
		client:   c.Client,
		log:      c.Logger.With("controller", Name),
		recorder: c.Recorder("ipam-controller"),
		nodes:    c.Informers.Core().V1().Nodes().Lister(),
		queue:    controllerutil.NewQueue(Name),
		alloc:    alloc,
	}
	enqueue := func(obj any) { controllerutil.Enqueue(ctrl.queue, obj) }
	_, err = c.Informers.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Node).Spec.PodCIDR != cur.(*corev1.Node).Spec.PodCIDR || cur.(*corev1.Node).Spec.PodCIDR == "" {
				enqueue(cur)
			}
		},
		DeleteFunc: enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: node handler: %w", Name, err)
	}
	return ctrl, nil
}

// Constructor returns the constructor a controllers.Manager builds the
// controller with.
func Constructor(cfg Config) controllers.Constructor { return controllers.ConstructorFor(New, cfg) }

// Name implements controllers.Controller.
func (c *Controller) Name() string { return Name }

// Start rebuilds the CIDRs in use from the nodes, then assigns and
// releases CIDRs until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	defer c.queue.ShutDown()
	if err := c.rebuild(); err != nil {
		return err
	}
	controllerutil.Run(ctx, nil, c.queue, c.cfg.Workers, c.log, c.sync)
	return nil
}

// rebuild marks the CIDRs of existing nodes used, before any is handed
// out.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("%s: list nodes: %w", Name, err)
	}
	for _, node := range nodes {
		c.occupy(node)
	}
	c.log.Info("pod CIDRs in use", "count", c.alloc.used(), "of", c.alloc.size(), "clusterCIDR", c.cfg.ClusterCIDR)
	return nil
}

// occupy records the CIDR a node has. It reports whether the node has one.
func (c *Controller) occupy(node *corev1.Node) bool {
	if node.Spec.PodCIDR == "" {
		return false
	}
	p, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		c.log.Warn("node has an invalid pod CIDR", "node", node.Name, "podCIDR", node.Spec.PodCIDR)
		return true
	}
	switch owner, err := c.alloc.occupy(p, node.Name, node.UID); {
	case errors.Is(err, errOutside):
		c.log.Info("node's pod CIDR is outside the cluster CIDR; left alone", "node", node.Name, "podCIDR", p)
	case err != nil:
		c.log.Warn("node pod CIDR", "node", node.Name, "podCIDR", p, "err", err)
	case owner != node.Name:
		c.log.Error("two nodes have the same pod CIDR", "node", node.Name, "other", owner, "podCIDR", p)
		c.recorder.Eventf(nodeRef(node), corev1.EventTypeWarning, EventCIDRConflict, "pod CIDR %s is also node %s's", p, owner)
	}
	return true
}

// sync gives the node a CIDR if it has none, or releases the CIDR of a
// node that is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.release(name)
		return nil
	}
	if err != nil {
		return err
	}
	if c.occupy(node) {
		return nil
	}
	p, fresh, err := c.alloc.allocate(name, node.UID)
	if errors.Is(err, errFull) {
		return c.exhausted(ctx, node)
	}
	if err != nil {
		return err
	}
	if err := c.assign(ctx, node, p); err != nil {
		if fresh {
			c.alloc.releaseIf(name, node.UID)
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("assign %s to node %s: %w", p, name, err)
	}
	c.log.Info("assigned pod CIDR", "node", name, "podCIDR", p)
	return nil
}

// assign writes the CIDR into the node's spec, guarded by its UID so that
// a node re-created under the same name does not get it, and clears the
// NetworkUnavailable condition the controller set when the range was
// full.
func (c *Controller) assign(ctx context.Context, node *corev1.Node, p netip.Prefix) error {
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/uid", "value": node.UID},
		{"op": "add", "path": "/spec/podCIDR", "value": p.String()},
		{"op": "add", "path": "/spec/podCIDRs", "value": []string{p.String()}},
	})
	if err != nil {
		return err
	}
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeNetworkUnavailable && cond.Reason == ReasonNoCIDR {
			return c.setNetworkUnavailable(ctx, node.Name, corev1.ConditionFalse, ReasonCIDRAssigned, "pod CIDR "+p.String()+" assigned")
		}
	}
	return nil
}

// exhausted tells the node's owner that no CIDR is left; the node waits
// for one to be released.
func (c *Controller) exhausted(ctx context.Context, node *corev1.Node) error {
	msg := fmt.Sprintf("no pod CIDR left in %s (/%d per node)", c.cfg.ClusterCIDR, c.cfg.NodeMaskSize)
	c.log.Error("pod CIDRs exhausted", "node", node.Name, "clusterCIDR", c.cfg.ClusterCIDR, "nodes", c.alloc.size())
	c.recorder.Event(nodeRef(node), corev1.EventTypeWarning, EventCIDRNotAvail, msg)
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeNetworkUnavailable && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	err := c.setNetworkUnavailable(ctx, node.Name, corev1.ConditionTrue, ReasonNoCIDR, msg)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) setNetworkUnavailable(ctx context.Context, node string, status corev1.ConditionStatus, reason, msg string) error {
	now := metav1.Now()
	cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("node %s condition %s: %w", node, corev1.NodeNetworkUnavailable, err)
	}
	return nil
}

// release frees the CIDR of a node that is gone, handing it to another
// node that has the same one, and queues the nodes waiting for a CIDR.
func (c *Controller) release(name string) {
	p, ok := c.alloc.release(name)
	if !ok {
		return
	}
	c.log.Info("released pod CIDR", "node", name, "podCIDR", p)
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, node := range nodes {
		switch node.Spec.PodCIDR {
		case p.String():
			c.occupy(node)
		case "":
			c.queue.AddAfter(node.Name, time.Millisecond)
		}
	}
}

func nodeRef(node *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node.Name, UID: node.UID}
}
