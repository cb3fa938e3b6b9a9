package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// identity names an object in the graph.
type identity struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

// node is an object in the owner graph. A virtual node is known only as
// the owner of others (not observed, or deleted while dependents remain).
type node struct {
	id         identity
	observed   bool
	owners     []metav1.OwnerReference
	dependents map[types.UID]*node
	// deleting: the object has a deletionTimestamp; deletingDependents:
	// and the foregroundDeletion finalizer; orphaning: and the orphan
	// finalizer.
	deleting, deletingDependents, orphaning bool
}

// nodeState is a copy of a node for use outside the graph lock.
type nodeState struct {
	id                                      identity
	observed                                bool
	owners                                  []metav1.OwnerReference
	dependents                              []identity
	blockingDependents                      []identity
	deleting, deletingDependents, orphaning bool
}

// graph is the owner graph: objects by UID, each linked to its owners and
// dependents. Informer events update it; workers read copies of nodes.
type graph struct {
	mu    sync.Mutex
	nodes map[types.UID]*node
	// enqueueDelete asks a worker to check whether an object should go;
	// enqueueOrphan to orphan an owner's dependents.
	enqueueDelete, enqueueOrphan func(types.UID)
}

func newGraph(enqueueDelete, enqueueOrphan func(types.UID)) *graph {
	return &graph{nodes: map[types.UID]*node{}, enqueueDelete: enqueueDelete, enqueueOrphan: enqueueOrphan}
}

// observe records an added or updated object.
func (g *graph) observe(m metav1.Object, apiVersion, kind string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid := m.GetUID()
	n := g.nodes[uid]
	if n == nil {
		n = &node{dependents: map[types.UID]*node{}}
		g.nodes[uid] = n
	}
	n.id = identity{APIVersion: apiVersion, Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: uid}
	n.observed = true

	oldOwners := n.owners
	newOwners := m.GetOwnerReferences()
	check := false
	for _, ref := range oldOwners {
		if i := refIndex(newOwners, ref.UID); i < 0 || blocks(ref) && !blocks(newOwners[i]) {
			// An owner lost this dependent (or its block): an owner
			// waiting for its dependents may now be done.
			if o := g.nodes[ref.UID]; o != nil {
				if i < 0 {
					delete(o.dependents, uid)
					g.dropIfUnneeded(o)
				}
				if o.deletingDependents {
					g.enqueueDelete(o.id.UID)
				}
			}
		}
	}
	for _, ref := range newOwners {
		o := g.nodes[ref.UID]
		if o == nil {
			// Owners unseen so far may not exist: a worker checks.
			o = &node{id: identity{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: m.GetNamespace(), Name: ref.Name, UID: ref.UID},
				dependents: map[types.UID]*node{}}
			g.nodes[ref.UID] = o
		}
		o.dependents[uid] = n
		if !o.observed || o.deletingDependents || refIndex(oldOwners, ref.UID) < 0 {
			check = true
		}
	}
	n.owners = newOwners

	deleting := m.GetDeletionTimestamp() != nil
	finalizers := m.GetFinalizers()
	startsForeground := deleting && slices.Contains(finalizers, metav1.FinalizerDeleteDependents) && !n.deletingDependents
	n.deleting = deleting
	n.deletingDependents = deleting && slices.Contains(finalizers, metav1.FinalizerDeleteDependents)
	n.orphaning = deleting && slices.Contains(finalizers, metav1.FinalizerOrphanDependents)
	if n.orphaning {
		g.enqueueOrphan(uid)
	}
	if n.deletingDependents {
		// Check the owner itself (its finalizer may go) and, when the
		// foreground deletion begins, every dependent.
		g.enqueueDelete(uid)
		if startsForeground {
			for d := range n.dependents {
				g.enqueueDelete(d)
			}
		}
	}
	if check {
		g.enqueueDelete(uid)
	}
}

// remove records a deleted object: its dependents lost an owner.
func (g *graph) remove(uid types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil {
		return
	}
	for _, ref := range n.owners {
		if o := g.nodes[ref.UID]; o != nil {
			delete(o.dependents, uid)
			if o.deletingDependents {
				g.enqueueDelete(o.id.UID)
			}
			g.dropIfUnneeded(o)
		}
	}
	n.owners = nil
	n.observed, n.deleting, n.deletingDependents, n.orphaning = false, false, false, false
	for d := range n.dependents {
		g.enqueueDelete(d)
	}
	g.dropIfUnneeded(n)
}

// dropIfUnneeded forgets a virtual node that owns nothing any more.
func (g *graph) dropIfUnneeded(n *node) {
	if !n.observed && len(n.dependents) == 0 {
		delete(g.nodes, n.id.UID)
	}
}

// get returns a copy of the node with uid.
func (g *graph) get(uid types.UID) (nodeState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.nodes[uid]
	if n == nil {
		return nodeState{}, false
	}
	s := nodeState{id: n.id, observed: n.observed, owners: slices.Clone(n.owners),
		deleting: n.deleting, deletingDependents: n.deletingDependents, orphaning: n.orphaning}
	for _, d := range n.dependents {
		s.dependents = append(s.dependents, d.id)
		if i := refIndex(d.owners, uid); i >= 0 && blocks(d.owners[i]) {
			s.blockingDependents = append(s.blockingDependents, d.id)
		}
	}
	return s, true
}

// size is the number of nodes, virtual ones included.
func (g *graph) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.nodes)
}

func refIndex(refs []metav1.OwnerReference, uid types.UID) int {
	return slices.IndexFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == uid })
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}
