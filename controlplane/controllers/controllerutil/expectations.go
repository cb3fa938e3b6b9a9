package controllerutil

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long a controller trusts expectations that
// the informers never fulfil (a lost watch event) before it syncs anyway.
const ExpectationsTimeout = 5 * time.Minute

// Expectations remember, per controller key, the pod creations and
// deletions a controller has asked for and not yet seen through its
// informers. While they are pending the controller does not act on its
// cache again, so a slow watch never makes it create or delete twice.
// Deletions are tracked by pod key, so the start of a graceful deletion
// and the final removal count once.
type Expectations struct {
	mu  sync.Mutex
	m   map[string]*expectation
	now func() time.Time
}

type expectation struct {
	adds    int
	deletes map[string]struct{}
	at      time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations {
	return &Expectations{m: map[string]*expectation{}, now: time.Now}
}

// Satisfied reports whether the controller may act for key: nothing is
// pending, or what is pending has timed out.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && len(x.deletes) == 0) || e.now().Sub(x.at) > ExpectationsTimeout
}

// Expect records that the controller is about to create adds pods and
// delete the pods named by deletes (namespace/name keys) for key,
// replacing what was recorded before.
func (e *Expectations) Expect(key string, adds int, deletes []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletes: make(map[string]struct{}, len(deletes)), at: e.now()}
	for _, d := range deletes {
		x.deletes[d] = struct{}{}
	}
	e.m[key] = x
}

// CreationObserved lowers the creations pending for key by one: the
// informer saw a pod, or a create failed and no pod will come.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// DeletionObserved marks the deletion of pod (a namespace/name key)
// pending for key as seen.
func (e *Expectations) DeletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, pod)
	}
}

// Delete forgets key, for a controller object that is gone.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
