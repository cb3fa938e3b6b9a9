package lb

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// loadState fills the engine's mirror from the maps, which are not empty
// when they were pinned by an earlier process. Entries that belong to no
// frontend are remembered as orphans and deleted by the next Replace.
func (e *engine) loadState(objs *bpfObjects) error {
	err := dump(objs.Services, func(k bpfSvcKey, v bpfSvcValue) {
		key := feKey{addr: k.Addr, port: k.Port, proto: k.Proto}
		fe := e.fes[key]
		if fe == nil {
			fe = &feState{key: key, backends: make(map[beKey]*beState)}
			e.fes[key] = fe
		}
		if k.Slot == 0 {
			fe.master, fe.hasMaster, fe.id = v, true, v.Id
		} else {
			fe.setSlot(int(k.Slot)-1, v.Id)
		}
	})
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	byID := make(map[uint32]*feState, len(e.fes))
	for _, fe := range e.fes {
		if fe.hasMaster && byID[fe.id] == nil {
			byID[fe.id] = fe
			e.feIDs.reserve(fe.id)
		}
	}
	// Slots without a master (a crash between phases) get a fresh id.
	for _, fe := range e.fes {
		if byID[fe.id] != fe {
			id, ok := e.feIDs.alloc()
			if !ok {
				return &MapError{Map: "rev_nat", Err: ErrMapFull}
			}
			fe.id = id
			byID[id] = fe
		}
	}
	err = dump(objs.RevNat, func(id uint32, v bpfFrontend) {
		if fe := byID[id]; fe != nil {
			fe.revNAT, fe.hasRevNAT = v, true
		} else {
			e.orphans.revNAT = append(e.orphans.revNAT, id)
		}
	})
	if err != nil {
		return fmt.Errorf("rev_nat: %w", err)
	}
	err = dump(objs.Backends, func(id uint32, v bpfBackend) {
		e.beIDs.reserve(id)
		fe := byID[v.SvcId]
		k := beKey{addr: v.Addr, port: v.Port}
		if fe == nil || fe.key.proto != v.Proto || fe.backends[k] != nil {
			e.orphans.backends = append(e.orphans.backends, id)
			return
		}
		fe.backends[k] = &beState{id: id, val: v, written: true}
	})
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	var ids []uint32
	var id uint32
	it := objs.Maglev.Iterate()
	var inner uint32
	for it.Next(&id, &inner) {
		ids = append(ids, id)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("maglev: %w", err)
	}
	for _, id := range ids {
		fe := byID[id]
		if fe == nil {
			e.orphans.maglev = append(e.orphans.maglev, id)
			continue
		}
		sum, err := e.readMaglev(id)
		if err != nil {
			return fmt.Errorf("maglev table %d: %w", id, err)
		}
		fe.maglevSum, fe.hasMaglev = sum, true
	}
	return nil
}

// readMaglev fingerprints the table installed for a frontend id.
func (e *engine) readMaglev(id uint32) (uint64, error) {
	var innerID uint32
	if err := e.maglevOuter.Lookup(id, &innerID); err != nil {
		return 0, err
	}
	inner, err := ebpf.NewMapFromID(ebpf.MapID(innerID))
	if err != nil {
		return 0, err
	}
	defer inner.Close()
	table := make([]uint32, inner.MaxEntries())
	keys := make([]uint32, len(table))
	var cursor ebpf.MapBatchCursor
	n, err := inner.BatchLookup(&cursor, keys, table, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, err
	}
	if n != len(table) || int(inner.MaxEntries()) != e.maglevSize {
		return 0, nil // a table of another size: rewrite it
	}
	return tableSum(table), nil
}
