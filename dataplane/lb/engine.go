package lb

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/maglev"
	"skiff.dev/skiff/dataplane/model"
)

// engine keeps a mirror of what the maps hold and turns desired frontends
// into the few map writes that make the maps match. Writes for one change
// are applied in phases, so a program reading the maps never sees a
// frontend with a stale or missing backend while it has good ones:
//
//  1. backends and rev-NAT entries (new and changed)
//  2. backend slots (new and changed, never past the current count)
//  3. Maglev tables (built whole in a new inner map, swapped in atomically)
//  4. master entries: the count flips; removed frontends disappear
//  5. slots past the new count
//  6. removed Maglev tables, backends and rev-NAT entries
//
// The mirror is updated per accepted write, so a failed write (a full map)
// leaves it exact and the next sync retries only what is missing.
type engine struct {
	mu  sync.Mutex
	log *slog.Logger

	services, backends, revNAT, maglevOuter, stats kmap
	maglevInner                                    *ebpf.MapSpec
	maglevSize                                     int
	// writes counts the map writes applied, for metrics and tests.
	writes uint64

	fes     map[feKey]*feState
	owned   map[types.NamespacedName]map[feKey]struct{}
	feIDs   *idAllocator
	beIDs   *idAllocator
	orphans orphans

	// removedUDP collects UDP backends deleted by the last apply, whose
	// connected sockets must be destroyed.
	removedUDP []netip.AddrPort
}

// kmap is the part of *ebpf.Map the engine writes through; tests replace
// it to check every intermediate state of a sync.
type kmap interface {
	Update(key, value any, flags ebpf.MapUpdateFlags) error
	Delete(key any) error
	BatchUpdate(keys, values any, opts *ebpf.BatchOptions) (int, error)
	BatchDelete(keys any, opts *ebpf.BatchOptions) (int, error)
	Lookup(key, valueOut any) error
}

// feKey identifies a frontend: the master entry's key without the slot.
type feKey struct {
	addr  uint32 // be32; 0 for a NodePort
	port  uint16 // be16
	proto uint8
}

func (k feKey) slot(s uint16) bpfSvcKey {
	return bpfSvcKey{Addr: k.addr, Port: k.port, Proto: k.proto, Slot: s}
}

// beKey identifies a backend within its frontend.
type beKey struct {
	addr uint32 // be32
	port uint16 // be16
}

func (k beKey) addrPort() netip.AddrPort { return netip.AddrPortFrom(addr4(k.addr), be16(k.port)) }

type beState struct {
	id      uint32
	val     bpfBackend
	written bool
}

// feState mirrors one frontend's entries in the maps.
type feState struct {
	key       feKey
	id        uint32
	owner     types.NamespacedName
	master    bpfSvcValue
	hasMaster bool
	slots     []uint32 // slots[i] is the backend id in slot i+1; 0: no entry
	backends  map[beKey]*beState
	revNAT    bpfFrontend
	hasRevNAT bool
	maglevSum uint64
	hasMaglev bool
}

func (fe *feState) setSlot(i int, id uint32) {
	for len(fe.slots) <= i {
		fe.slots = append(fe.slots, 0)
	}
	fe.slots[i] = id
	for len(fe.slots) > 0 && fe.slots[len(fe.slots)-1] == 0 {
		fe.slots = fe.slots[:len(fe.slots)-1]
	}
}

func (fe *feState) empty() bool {
	return !fe.hasMaster && len(fe.slots) == 0 && len(fe.backends) == 0 && !fe.hasRevNAT && !fe.hasMaglev
}

// orphans are entries found in pinned maps that belong to no frontend.
type orphans struct {
	backends []uint32
	revNAT   []uint32
	maglev   []uint32
}

// want is a desired frontend in map terms.
type want struct {
	key      feKey
	owner    types.NamespacedName
	flags    uint16
	timeout  uint32
	nodePort bool
	backends []wantBackend // sorted by address and port
}

type wantBackend struct {
	key   beKey
	flags uint8
}

func toWant(f *model.Frontend) want {
	w := want{
		key:      feKey{addr: be32(f.Addr), port: be16(f.Port), proto: uint8(f.Protocol)},
		owner:    f.Service,
		timeout:  uint32(f.AffinityTimeout.Seconds()),
		nodePort: f.Kind == model.NodePort,
	}
	if w.nodePort {
		w.key.addr = 0
		w.flags |= svcFlagNodePort | svcFlagMaglev
	}
	if f.ExternalLocal && w.nodePort {
		w.flags |= svcFlagExtLocal
	}
	if f.InternalLocal && !w.nodePort {
		w.flags |= svcFlagIntLocal
	}
	w.backends = make([]wantBackend, 0, len(f.Backends))
	for _, b := range f.Backends {
		if !b.Addr.Is4() {
			continue
		}
		var flags uint8
		if b.Local {
			flags |= beFlagLocal
		}
		switch b.State {
		case model.Active:
			flags |= beFlagActive
		case model.Terminating:
			flags |= beFlagTerminating
		}
		w.backends = append(w.backends, wantBackend{key: beKey{addr: be32(b.Addr), port: be16(b.Port)}, flags: flags})
	}
	return w
}

// txn collects the writes of one sync, by phase.
type txn struct {
	backendPuts puts[uint32, bpfBackend]
	revNATPuts  puts[uint32, bpfFrontend]
	slotPuts    puts[bpfSvcKey, bpfSvcValue]
	maglevPuts  []maglevPut
	masterPuts  puts[bpfSvcKey, bpfSvcValue]
	masterDels  dels[bpfSvcKey]
	slotDels    dels[bpfSvcKey]
	maglevDels  dels[uint32]
	backendDels dels[uint32]
	revNATDels  dels[uint32]
	statsResets []uint32
	finalize    []func()
}

type maglevPut struct {
	id    uint32
	table []uint32
	done  func()
}

func (e *engine) newTxn() *txn { return &txn{} }

// planFrontend adds the writes that make the maps hold w.
func (e *engine) planFrontend(tx *txn, w *want) error {
	fe := e.fes[w.key]
	if fe == nil {
		id, ok := e.feIDs.alloc()
		if !ok {
			return &MapError{Map: "rev_nat", Err: fmt.Errorf("%w: no free frontend id", ErrMapFull)}
		}
		fe = &feState{key: w.key, id: id, backends: make(map[beKey]*beState)}
		e.fes[w.key] = fe
		tx.statsResets = append(tx.statsResets, id)
	}
	if fe.owner != w.owner && fe.owner != (types.NamespacedName{}) {
		if keys := e.owned[fe.owner]; keys != nil {
			delete(keys, w.key)
		}
	}
	fe.owner = w.owner

	// Backends.
	wanted := make(map[beKey]struct{}, len(w.backends))
	active := make([]uint32, 0, len(w.backends))
	for _, wb := range w.backends {
		wanted[wb.key] = struct{}{}
		be := fe.backends[wb.key]
		if be == nil {
			id, ok := e.beIDs.alloc()
			if !ok {
				return &MapError{Map: "backends", Err: fmt.Errorf("%w: no free backend id", ErrMapFull)}
			}
			be = &beState{id: id}
			fe.backends[wb.key] = be
		}
		val := bpfBackend{Addr: wb.key.addr, Port: wb.key.port, Proto: w.key.proto, Flags: wb.flags, SvcId: fe.id}
		if !be.written || be.val != val {
			tx.backendPuts.add(be.id, val, func() { be.val, be.written = val, true })
		}
		if wb.flags&beFlagActive != 0 {
			active = append(active, be.id)
		}
	}
	if len(active) > maxSlotsPerService {
		return fmt.Errorf("frontend %v: %d active backends, at most %d", w.key, len(active), maxSlotsPerService)
	}
	for k, be := range fe.backends {
		if _, ok := wanted[k]; !ok {
			e.planBackendDelete(tx, fe, k, be)
		}
	}

	// Slots, then the count.
	slots := arrangeSlots(fe.slots, active)
	for i, id := range slots {
		if i >= len(fe.slots) || fe.slots[i] != id {
			tx.slotPuts.add(w.key.slot(uint16(i+1)), bpfSvcValue{Id: id}, func() { fe.setSlot(i, id) })
		}
	}
	for i := len(slots); i < len(fe.slots); i++ {
		if fe.slots[i] != 0 {
			tx.slotDels.add(w.key.slot(uint16(i+1)), func() { fe.setSlot(i, 0) })
		}
	}
	master := bpfSvcValue{Id: fe.id, Count: uint16(len(slots)), Flags: w.flags, AffinityTimeout: w.timeout}
	if !fe.hasMaster || fe.master != master {
		tx.masterPuts.add(w.key.slot(0), master, func() { fe.master, fe.hasMaster = master, true })
	}
	rev := bpfFrontend{Addr: w.key.addr, Port: w.key.port, Proto: w.key.proto}
	if !fe.hasRevNAT || fe.revNAT != rev {
		tx.revNATPuts.add(fe.id, rev, func() { fe.revNAT, fe.hasRevNAT = rev, true })
	}

	// Maglev table for NodePorts.
	if w.nodePort && len(active) > 0 {
		table := e.maglevTable(fe, w)
		sum := tableSum(table)
		if !fe.hasMaglev || fe.maglevSum != sum {
			tx.maglevPuts = append(tx.maglevPuts, maglevPut{id: fe.id, table: table, done: func() {
				fe.maglevSum, fe.hasMaglev = sum, true
			}})
		}
	} else if fe.hasMaglev {
		tx.maglevDels.add(fe.id, func() { fe.hasMaglev = false })
	}
	return nil
}

// maglevTable fills a table with the ids of the active backends, placed by
// their address and port so the table survives restarts and id changes
// alike.
func (e *engine) maglevTable(fe *feState, w *want) []uint32 {
	var names []string
	var ids []uint32
	for _, wb := range w.backends {
		if wb.flags&beFlagActive == 0 {
			continue
		}
		names = append(names, wb.key.addrPort().String())
		ids = append(ids, fe.backends[wb.key].id)
	}
	idx := maglev.Table(names, e.maglevSize)
	out := make([]uint32, len(idx))
	for i, j := range idx {
		out[i] = ids[j]
	}
	return out
}

func (e *engine) planBackendDelete(tx *txn, fe *feState, k beKey, be *beState) {
	forget := func() {
		delete(fe.backends, k)
		e.beIDs.free(be.id)
	}
	if !be.written {
		forget()
		return
	}
	proto := fe.key.proto
	tx.backendDels.add(be.id, func() {
		forget()
		if proto == uint8(model.UDP) {
			e.removedUDP = append(e.removedUDP, k.addrPort())
		}
	})
}

// planDelete adds the writes that remove a frontend.
func (e *engine) planDelete(tx *txn, fe *feState) {
	if fe.hasMaster {
		tx.masterDels.add(fe.key.slot(0), func() { fe.hasMaster = false })
	}
	for i, id := range fe.slots {
		if id != 0 {
			tx.slotDels.add(fe.key.slot(uint16(i+1)), func() { fe.setSlot(i, 0) })
		}
	}
	for k, be := range fe.backends {
		e.planBackendDelete(tx, fe, k, be)
	}
	if fe.hasMaglev {
		tx.maglevDels.add(fe.id, func() { fe.hasMaglev = false })
	}
	if fe.hasRevNAT {
		tx.revNATDels.add(fe.id, func() { fe.hasRevNAT = false })
	}
	tx.finalize = append(tx.finalize, func() {
		if fe.empty() && e.fes[fe.key] == fe {
			delete(e.fes, fe.key)
			e.feIDs.free(fe.id)
		}
	})
}

// arrangeSlots places the active backend ids in slots: an id keeps its
// slot when it is still active and the slot still exists, new ids fill the
// holes. Only the slots that change need a write.
func arrangeSlots(cur, active []uint32) []uint32 {
	out := make([]uint32, len(active))
	want := make(map[uint32]bool, len(active))
	for _, id := range active {
		want[id] = true
	}
	placed := make(map[uint32]bool, len(active))
	for i := 0; i < len(out) && i < len(cur); i++ {
		if id := cur[i]; id != 0 && want[id] && !placed[id] {
			out[i] = id
			placed[id] = true
		}
	}
	next := 0
	for i := range out {
		if out[i] != 0 {
			continue
		}
		for placed[active[next]] {
			next++
		}
		out[i] = active[next]
		placed[active[next]] = true
	}
	return out
}

// apply writes the transaction's phases in order and stops at the first
// failure; the mirror then holds exactly what the kernel accepted.
func (e *engine) apply(tx *txn) error {
	defer func() {
		for _, f := range tx.finalize {
			f()
		}
	}()
	e.writes += uint64(len(tx.backendPuts.keys) + len(tx.revNATPuts.keys) + len(tx.slotPuts.keys) +
		len(tx.maglevPuts) + len(tx.masterPuts.keys) + len(tx.masterDels.keys) + len(tx.slotDels.keys) +
		len(tx.maglevDels.keys) + len(tx.backendDels.keys) + len(tx.revNATDels.keys))
	if err := e.resetStats(tx.statsResets); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return tx.backendPuts.apply(e.backends, "backends") },
		func() error { return tx.revNATPuts.apply(e.revNAT, "rev_nat") },
		func() error { return tx.slotPuts.apply(e.services, "services") },
		func() error { return e.putMaglev(tx.maglevPuts) },
		func() error { return tx.masterDels.apply(e.services, "services") },
		func() error { return tx.masterPuts.apply(e.services, "services") },
		func() error { return tx.slotDels.apply(e.services, "services") },
		func() error { return tx.maglevDels.apply(e.maglevOuter, "maglev") },
		func() error { return tx.backendDels.apply(e.backends, "backends") },
		func() error { return tx.revNATDels.apply(e.revNAT, "rev_nat") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// putMaglev builds each table in a fresh inner map and swaps it in.
func (e *engine) putMaglev(ops []maglevPut) error {
	keys := make([]uint32, e.maglevSize)
	for i := range keys {
		keys[i] = uint32(i)
	}
	for _, op := range ops {
		inner, err := ebpf.NewMap(e.maglevInner)
		if err != nil {
			return &MapError{Map: "maglev inner", Err: err}
		}
		_, err = inner.BatchUpdate(keys, op.table, nil)
		if err == nil {
			err = e.maglevOuter.Update(op.id, inner, ebpf.UpdateAny)
		}
		inner.Close()
		if err != nil {
			return &MapError{Map: "maglev", Err: err}
		}
		op.done()
	}
	return nil
}

// resetStats zeroes the counters of newly allocated frontend ids.
func (e *engine) resetStats(ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	zero := make([]bpfSvcStats, ebpf.MustPossibleCPU())
	for _, id := range ids {
		if err := e.stats.Update(id, zero, ebpf.UpdateAny); err != nil {
			return &MapError{Map: "stats", Err: err}
		}
	}
	return nil
}

// Replace makes the maps hold exactly these services.
func (e *engine) Replace(svcs []model.Service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := e.newTxn()
	owned := make(map[types.NamespacedName]map[feKey]struct{}, len(svcs))
	claimed := make(map[feKey]types.NamespacedName)
	var errs []error
	for i := range svcs {
		keys := make(map[feKey]struct{})
		for _, f := range svcs[i].Frontends() {
			w := toWant(&f)
			if other, dup := claimed[w.key]; dup {
				errs = append(errs, fmt.Errorf("service %s: frontend %s already used by %s", f.Service, frontendString(w.key), other))
				continue
			}
			claimed[w.key] = f.Service
			if err := e.planFrontend(tx, &w); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", f.Service, err))
				continue
			}
			keys[w.key] = struct{}{}
		}
		owned[svcs[i].Name] = keys
	}
	for k, fe := range e.fes {
		if !inOwned(owned, fe.owner, k) {
			e.planDelete(tx, fe)
		}
	}
	e.planOrphans(tx)
	e.owned = owned
	errs = append(errs, e.apply(tx))
	return errors.Join(errs...)
}

func inOwned(owned map[types.NamespacedName]map[feKey]struct{}, owner types.NamespacedName, k feKey) bool {
	_, ok := owned[owner][k]
	return ok
}

// planOrphans deletes entries found in pinned maps that no frontend owns.
func (e *engine) planOrphans(tx *txn) {
	o := e.orphans
	e.orphans = orphans{}
	for _, id := range o.maglev {
		tx.maglevDels.add(id, func() {})
	}
	for _, id := range o.backends {
		tx.backendDels.add(id, func() { e.beIDs.free(id) })
	}
	for _, id := range o.revNAT {
		tx.revNATDels.add(id, func() {})
	}
}

// Upsert programs one service.
func (e *engine) Upsert(svc model.Service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := e.newTxn()
	keys := make(map[feKey]struct{})
	var errs []error
	for _, f := range svc.Frontends() {
		w := toWant(&f)
		if fe := e.fes[w.key]; fe != nil && fe.owner != svc.Name && fe.owner != (types.NamespacedName{}) {
			if _, still := e.owned[fe.owner][w.key]; still {
				errs = append(errs, fmt.Errorf("service %s: frontend %s already used by %s", svc.Name, frontendString(w.key), fe.owner))
				continue
			}
		}
		if err := e.planFrontend(tx, &w); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", svc.Name, err))
			continue
		}
		keys[w.key] = struct{}{}
	}
	for k := range e.owned[svc.Name] {
		if _, ok := keys[k]; !ok {
			if fe := e.fes[k]; fe != nil && fe.owner == svc.Name {
				e.planDelete(tx, fe)
			}
		}
	}
	e.owned[svc.Name] = keys
	errs = append(errs, e.apply(tx))
	return errors.Join(errs...)
}

// Delete removes one service's frontends.
func (e *engine) Delete(name types.NamespacedName) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := e.newTxn()
	for k := range e.owned[name] {
		if fe := e.fes[k]; fe != nil && fe.owner == name {
			e.planDelete(tx, fe)
		}
	}
	delete(e.owned, name)
	return e.apply(tx)
}

// takeRemovedUDP returns and forgets the UDP backends removed since the
// last call.
func (e *engine) takeRemovedUDP() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.removedUDP
	e.removedUDP = nil
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out)
}

// fill reports how many entries the engine keeps in each map.
func (e *engine) fill() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var svc, be, rev, mag int
	for _, fe := range e.fes {
		if fe.hasMaster {
			svc++
		}
		for _, id := range fe.slots {
			if id != 0 {
				svc++
			}
		}
		for _, b := range fe.backends {
			if b.written {
				be++
			}
		}
		if fe.hasRevNAT {
			rev++
		}
		if fe.hasMaglev {
			mag++
		}
	}
	return map[string]int{"services": svc, "backends": be, "rev_nat": rev, "maglev": mag}
}

func frontendString(k feKey) string {
	proto := model.Protocol(k.proto)
	if k.addr == 0 {
		return fmt.Sprintf("NodePort %d/%s", be16(k.port), proto)
	}
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(addr4(k.addr), be16(k.port)), proto)
}

// idAllocator hands out ids in [1, limit).
type idAllocator struct {
	next  uint32
	limit uint32
	freed []uint32
	used  map[uint32]bool
}

func newIDAllocator(limit uint32) *idAllocator {
	return &idAllocator{next: 1, limit: limit, used: make(map[uint32]bool)}
}

func (a *idAllocator) alloc() (uint32, bool) {
	for len(a.freed) > 0 {
		id := a.freed[len(a.freed)-1]
		a.freed = a.freed[:len(a.freed)-1]
		if !a.used[id] {
			a.used[id] = true
			return id, true
		}
	}
	for a.next < a.limit {
		id := a.next
		a.next++
		if !a.used[id] {
			a.used[id] = true
			return id, true
		}
	}
	return 0, false
}

// reserve marks an id found in a pinned map as used.
func (a *idAllocator) reserve(id uint32) { a.used[id] = true }

func (a *idAllocator) free(id uint32) {
	if a.used[id] {
		delete(a.used, id)
		a.freed = append(a.freed, id)
	}
}
