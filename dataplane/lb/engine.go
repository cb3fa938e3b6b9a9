package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

	fes map[feKey]*feState
	// owned indexes fes by owner: the frontends in the mirror that each
	// service holds, including one whose removal failed and is retried.
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
	e.setOwner(fe, w.owner)

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
			e.setOwner(fe, types.NamespacedName{})
			delete(e.fes, fe.key)
			e.feIDs.free(fe.id)
		}
	})
}

// setOwner makes owner hold fe, in fe and in the owned index.
func (e *engine) setOwner(fe *feState, owner types.NamespacedName) {
	if fe.owner == owner {
		return
	}
	if keys := e.owned[fe.owner]; keys != nil {
		delete(keys, fe.key)
		if len(keys) == 0 {
			delete(e.owned, fe.owner)
		}
	}
	fe.owner = owner
	if owner != (types.NamespacedName{}) {
		if e.owned[owner] == nil {
			e.owned[owner] = make(map[feKey]struct{})
		}
		e.owned[owner][fe.key] = struct{}{}
	}
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
// failure, or between phases when ctx ends; the mirror then holds exactly
// what the kernel accepted, and every phase boundary is a state the
// programs may see.
func (e *engine) apply(ctx context.Context, tx *txn) error {
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
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// putMaglev builds each table in a fresh inner map, then swaps the new
// maps in. After every update of a map-of-maps the kernel waits for an RCU
// grace period (milliseconds), so that no program still uses the old inner
// map when the call returns: the swaps go in batches of maglevBatch, one
// wait per batch instead of one per table.
func (e *engine) putMaglev(ops []maglevPut) error {
	keys := make([]uint32, e.maglevSize)
	for i := range keys {
		keys[i] = uint32(i)
	}
	for start := 0; start < len(ops); start += maglevBatch {
		if err := e.swapMaglev(ops[start:min(start+maglevBatch, len(ops))], keys); err != nil {
			return err
		}
	}
	return nil
}

// swapMaglev fills an inner map per table and installs them all with one
// batch update of the outer map; each swap is atomic for the programs.
func (e *engine) swapMaglev(ops []maglevPut, keys []uint32) error {
	ids := make([]uint32, len(ops))
	fds := make([]uint32, len(ops))
	inners := make([]*ebpf.Map, 0, len(ops))
	defer func() {
		for _, m := range inners {
			m.Close() // the outer map holds its own reference
		}
	}()
	for i, op := range ops {
		inner, err := ebpf.NewMap(e.maglevInner)
		if err != nil {
			return &MapError{Map: "maglev inner", Err: err}
		}
		inners = append(inners, inner)
		if _, err := inner.BatchUpdate(keys, op.table, nil); err != nil {
			return &MapError{Map: "maglev inner", Err: err}
		}
		ids[i], fds[i] = op.id, uint32(inner.FD())
	}
	n, err := e.maglevOuter.BatchUpdate(ids, fds, nil)
	for _, op := range ops[:n] {
		op.done()
	}
	if err != nil {
		return &MapError{Map: "maglev", Err: err}
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

// sync plans one batch of changes and applies it: every service in
// upsert gets exactly its frontends, the services in remove lose theirs,
// and with replace every frontend that no service in upsert claims goes
// too, with the orphans of pinned maps. A frontend moves from one service
// to another when its holder lets go of it in the same batch; one that
// another service holds and keeps is refused to the newcomer (a
// model.ServiceError), as is one claimed by an earlier service of the
// batch. Unless replace, only the frontends of the services named are
// looked at.
//
// Frontends that go are deleted first, in a transaction of their own, so
// that a batch that removes some and adds others needs room for the
// result only. When the writes still find a map full, each service of a
// batch is synced alone and the error goes to those that do not fit.
func (e *engine) sync(ctx context.Context, upsert []model.Service, remove []types.NamespacedName, replace bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.syncLocked(ctx, upsert, remove, replace)
	// A service that failed to plan (no free id) failed alone already;
	// a write that found a map full stopped the whole batch.
	if _, rest := model.SplitErrors(err); len(upsert) < 2 || !errors.Is(rest, ErrMapFull) || ctx.Err() != nil {
		return err
	}
	// The mirror is exact after a failed write: each service now writes
	// only what it still lacks.
	var errs []error
	for i := range upsert {
		err := e.syncLocked(ctx, upsert[i:i+1], nil, false)
		byService, rest := model.SplitErrors(err)
		for name, err := range byService {
			errs = append(errs, &model.ServiceError{Service: name, Err: err})
		}
		if rest != nil {
			errs = append(errs, &model.ServiceError{Service: upsert[i].Name, Err: rest})
		}
	}
	return errors.Join(errs...)
}

func (e *engine) syncLocked(ctx context.Context, upsert []model.Service, remove []types.NamespacedName, replace bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wants := make([][]want, len(upsert))
	newKeys := make(map[types.NamespacedName]map[feKey]struct{}, len(upsert))
	for i := range upsert {
		keys := make(map[feKey]struct{})
		for _, f := range upsert[i].Frontends() {
			w := toWant(&f)
			wants[i] = append(wants[i], w)
			keys[w.key] = struct{}{}
		}
		newKeys[upsert[i].Name] = keys
	}
	removing := make(map[types.NamespacedName]bool, len(remove))
	for _, name := range remove {
		removing[name] = true
	}
	// The frontends that may go: those of the services named (all of
	// them with replace).
	var stale []feKey
	if replace {
		stale = slices.Collect(maps.Keys(e.fes))
	} else {
		for name := range removing {
			stale = slices.AppendSeq(stale, maps.Keys(e.owned[name]))
		}
		for name := range newKeys {
			stale = slices.AppendSeq(stale, maps.Keys(e.owned[name]))
		}
	}
	// keeps reports whether owner, which holds frontend k, still does
	// after this sync.
	keeps := func(owner types.NamespacedName, k feKey) bool {
		if keys, ok := newKeys[owner]; ok {
			_, ok := keys[k]
			return ok
		}
		return !replace && !removing[owner]
	}

	tx := e.newTxn()
	claimed := make(map[feKey]types.NamespacedName)
	var errs []error
	for i := range upsert {
		name := upsert[i].Name
		for j := range wants[i] {
			w := &wants[i][j]
			other, taken := claimed[w.key]
			if fe := e.fes[w.key]; !taken && fe != nil && fe.owner != name && fe.owner != (types.NamespacedName{}) && keeps(fe.owner, w.key) {
				other, taken = fe.owner, true
			}
			if taken {
				errs = append(errs, &model.ServiceError{Service: name, Err: fmt.Errorf("frontend %s already used by %s", frontendString(w.key), other)})
				continue
			}
			// A frontend that fails to plan (no free id, a full map) keeps
			// what it had; the next sync retries it.
			claimed[w.key] = name
			if err := e.planFrontend(tx, w); err != nil {
				errs = append(errs, &model.ServiceError{Service: name, Err: err})
			}
		}
	}
	del := e.newTxn()
	deleted := make(map[feKey]bool)
	for _, k := range stale {
		if _, ok := claimed[k]; ok || deleted[k] {
			continue
		}
		if fe := e.fes[k]; fe != nil {
			e.planDelete(del, fe)
			deleted[k] = true
		}
	}
	if replace {
		e.planOrphans(del)
	}
	if err := e.apply(ctx, del); err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, e.apply(ctx, tx))
	return errors.Join(errs...)
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

// takeRemovedUDP returns and forgets the UDP backends removed since the
// last call that no UDP frontend still uses: the sockets are matched by
// backend address alone, so a backend another service keeps (the same
// pod behind two services) must keep its sockets.
func (e *engine) takeRemovedUDP() []netip.AddrPort {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.removedUDP
	e.removedUDP = nil
	if len(out) == 0 {
		return nil
	}
	inUse := make(map[netip.AddrPort]bool)
	for _, fe := range e.fes {
		if fe.key.proto != uint8(model.UDP) {
			continue
		}
		for k := range fe.backends {
			inUse[k.addrPort()] = true
		}
	}
	out = slices.DeleteFunc(out, func(ap netip.AddrPort) bool { return inUse[ap] })
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
