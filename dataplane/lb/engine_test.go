package lb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/model"
)

// fakeMap is an in-memory kmap that calls after() following every single
// element it writes, so a test can inspect each intermediate state the
// BPF programs could observe.
type fakeMap[K comparable, V any] struct {
	m          map[K]V
	limit      int
	failDelete error // returned by every deletion while set
	after      func()
}

func newFake[K comparable, V any]() *fakeMap[K, V] {
	return &fakeMap[K, V]{m: make(map[K]V), after: func() {}}
}

func (f *fakeMap[K, V]) put(k K, v V) error {
	if _, ok := f.m[k]; !ok && f.limit > 0 && len(f.m) >= f.limit {
		return unix.E2BIG
	}
	f.m[k] = v
	f.after()
	return nil
}

func (f *fakeMap[K, V]) Update(key, value any, _ ebpf.MapUpdateFlags) error {
	return f.put(key.(K), value.(V))
}

func (f *fakeMap[K, V]) Delete(key any) error {
	if f.failDelete != nil {
		return f.failDelete
	}
	if _, ok := f.m[key.(K)]; !ok {
		return ebpf.ErrKeyNotExist
	}
	delete(f.m, key.(K))
	f.after()
	return nil
}

func (f *fakeMap[K, V]) Lookup(key, valueOut any) error {
	v, ok := f.m[key.(K)]
	if !ok {
		return ebpf.ErrKeyNotExist
	}
	*valueOut.(*V) = v
	return nil
}

func (f *fakeMap[K, V]) BatchUpdate(keys, values any, _ *ebpf.BatchOptions) (int, error) {
	ks, vs := keys.([]K), values.([]V)
	for i := range ks {
		if err := f.put(ks[i], vs[i]); err != nil {
			return i, err
		}
	}
	return len(ks), nil
}

func (f *fakeMap[K, V]) BatchDelete(keys any, _ *ebpf.BatchOptions) (int, error) {
	ks := keys.([]K)
	for i, k := range ks {
		if err := f.Delete(k); err != nil {
			return i, err
		}
	}
	return len(ks), nil
}

type fakeMaps struct {
	svc  *fakeMap[bpfSvcKey, bpfSvcValue]
	be   *fakeMap[uint32, bpfBackend]
	rev  *fakeMap[uint32, bpfFrontend]
	stat *fakeMap[uint32, []bpfSvcStats]
}

func fakeEngine() (*engine, *fakeMaps) {
	f := &fakeMaps{
		svc:  newFake[bpfSvcKey, bpfSvcValue](),
		be:   newFake[uint32, bpfBackend](),
		rev:  newFake[uint32, bpfFrontend](),
		stat: newFake[uint32, []bpfSvcStats](),
	}
	e := &engine{
		log:      slog.New(slog.DiscardHandler),
		services: f.svc, backends: f.be, revNAT: f.rev, stats: f.stat,
		fes:   make(map[feKey]*feState),
		owned: make(map[types.NamespacedName]map[feKey]struct{}),
		feIDs: newIDAllocator(1024),
		beIDs: newIDAllocator(1 << 20),
	}
	return e, f
}

// upsert programs one service, as the proxy's sync of one changed service does.
func upsert(e *engine, svc model.Service) error {
	return e.sync(context.Background(), []model.Service{svc}, nil, false)
}

func churnService(active []int) model.Service {
	var eps []model.Endpoint
	for _, i := range active {
		eps = append(eps, model.Endpoint{
			Addr:  netip.AddrFrom4([4]byte{10, 244, byte(i / 250), byte(i%250 + 1)}),
			Ports: []model.EndpointPort{{Name: "http", Port: 8080}},
			Ready: true, Serving: true,
		})
	}
	return model.Service{
		Name:      types.NamespacedName{Namespace: "ns", Name: "churn"},
		ClusterIP: netip.MustParseAddr("10.96.7.7"),
		Ports:     []model.Port{{Name: "http", Protocol: model.TCP, Port: 80}},
		Endpoints: eps,
	}
}

// reachable returns the backend addresses a program would pick from the
// fake maps, failing when a slot within the count or its backend is
// missing.
func reachable(f *fakeMaps, key feKey) (map[netip.Addr]bool, error) {
	m, ok := f.svc.m[key.slot(0)]
	if !ok {
		return nil, nil
	}
	out := make(map[netip.Addr]bool)
	for s := uint16(1); s <= m.Count; s++ {
		v, ok := f.svc.m[key.slot(s)]
		if !ok {
			return nil, fmt.Errorf("count %d but slot %d missing", m.Count, s)
		}
		be, ok := f.be.m[v.Id]
		if !ok {
			return nil, fmt.Errorf("slot %d points at missing backend %d", s, v.Id)
		}
		out[addr4(be.Addr)] = true
	}
	return out, nil
}

// TestSyncNeverExposesStaleOrMissingBackends churns a service's endpoint
// set and checks the maps after every single write: every slot within
// the count holds a live backend from the old or the new set, and the
// service never has zero backends while it has good ones. Each sync
// costs writes proportional to the change only.
func TestSyncNeverExposesStaleOrMissingBackends(t *testing.T) {
	e, f := fakeEngine()
	rng := rand.New(rand.NewPCG(1, 2))
	key := feKey{addr: be32(netip.MustParseAddr("10.96.7.7")), port: be16(80), proto: uint8(model.TCP)}
	var allowed map[netip.Addr]bool
	var failures []string
	f.svc.after = func() {
		got, err := reachable(f, key)
		if err != nil {
			failures = append(failures, err.Error())
			return
		}
		if allowed == nil {
			return
		}
		if len(got) == 0 {
			failures = append(failures, "service with good backends has none")
		}
		for a := range got {
			if !allowed[a] {
				failures = append(failures, fmt.Sprintf("stale backend %s reachable", a))
			}
		}
	}
	f.be.after = f.svc.after

	prev := []int{}
	for iter := range 300 {
		next := rng.Perm(24)[:1+rng.IntN(12)]
		svc := churnService(next)
		allowed = make(map[netip.Addr]bool)
		for _, s := range []model.Service{churnService(prev), svc} {
			for _, ep := range s.Endpoints {
				allowed[ep.Addr] = true
			}
		}
		if len(prev) == 0 {
			allowed = nil // first sync: nothing to compare against
		}
		before := e.writes
		if err := upsert(e, svc); err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		if len(failures) > 0 {
			t.Fatalf("iteration %d (%v -> %v): %v", iter, prev, next, failures)
		}
		got, _ := reachable(f, key)
		want := make(map[netip.Addr]bool)
		for _, ep := range svc.Endpoints {
			want[ep.Addr] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iteration %d: maps reach %v, want %v", iter, got, want)
		}
		changed := symmetricDiff(prev, next)
		if w := e.writes - before; len(prev) > 0 && w > uint64(3*changed+1) {
			t.Fatalf("iteration %d: %d writes for %d changed endpoints", iter, w, changed)
		}
		if len(f.be.m) != len(next) {
			t.Fatalf("iteration %d: %d backend entries for %d endpoints", iter, len(f.be.m), len(next))
		}
		prev = next
	}

	// No change, no writes.
	before := e.writes
	if err := upsert(e, churnService(prev)); err != nil {
		t.Fatal(err)
	}
	if e.writes != before {
		t.Fatalf("an unchanged service cost %d writes", e.writes-before)
	}
	// Deleting the service empties the maps.
	if err := e.sync(context.Background(), nil, []types.NamespacedName{churnService(nil).Name}, false); err != nil {
		t.Fatal(err)
	}
	if len(f.svc.m)+len(f.be.m)+len(f.rev.m) != 0 || len(e.fes) != 0 {
		t.Fatalf("after delete: %d services, %d backends, %d rev-NAT entries, %d frontends in memory",
			len(f.svc.m), len(f.be.m), len(f.rev.m), len(e.fes))
	}
}

func symmetricDiff(a, b []int) int {
	n := 0
	for _, x := range a {
		if !slices.Contains(b, x) {
			n++
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			n++
		}
	}
	return n
}

// A full map fails the sync with ErrMapFull and leaves the mirror exact:
// once there is room, the next sync writes only what is missing.
func TestSyncMapFull(t *testing.T) {
	e, f := fakeEngine()
	f.be.limit = 3
	svc := churnService([]int{1, 2, 3, 4, 5})
	err := upsert(e, svc)
	if !errors.Is(err, ErrMapFull) {
		t.Fatalf("upsert into a full map: %v, want ErrMapFull", err)
	}
	var me *MapError
	if !errors.As(err, &me) || me.Map != "backends" {
		t.Fatalf("error %v does not name the backends map", err)
	}
	if _, ok := f.svc.m[feKey{addr: be32(svc.ClusterIP), port: be16(80), proto: 6}.slot(0)]; ok {
		t.Fatal("the count was flipped although backends failed to write")
	}
	f.be.limit = 0
	before := e.writes
	if err := upsert(e, svc); err != nil {
		t.Fatal(err)
	}
	// 2 missing backends, 5 slots, 1 master, 1 rev-NAT entry.
	if w := e.writes - before; w != 9 {
		t.Fatalf("retry wrote %d entries, want 9", w)
	}
}

func TestArrangeSlots(t *testing.T) {
	for _, tc := range []struct {
		cur, active, want []uint32
	}{
		{nil, []uint32{1, 2, 3}, []uint32{1, 2, 3}},
		{[]uint32{1, 2, 3}, []uint32{1, 3}, []uint32{1, 3}}, // 3 moves into 2's slot
		{[]uint32{1, 2, 3}, []uint32{2, 3}, []uint32{3, 2}}, // 3 moves into 1's slot; 2 stays
		{[]uint32{1, 2, 3}, []uint32{1, 2, 3, 4}, []uint32{1, 2, 3, 4}},
		{[]uint32{1, 2, 3}, []uint32{4, 1, 3}, []uint32{1, 4, 3}}, // 1 and 3 stay
		{[]uint32{1, 2}, nil, []uint32{}},
	} {
		got := arrangeSlots(tc.cur, tc.active)
		if !slices.Equal(got, tc.want) {
			t.Errorf("arrangeSlots(%v, %v) = %v, want %v", tc.cur, tc.active, got, tc.want)
		}
	}
}

// Two services may not claim the same frontend; the second is refused
// and the first keeps it.
func TestSyncFrontendConflict(t *testing.T) {
	e, _ := fakeEngine()
	a := churnService([]int{1})
	b := churnService([]int{2})
	b.Name.Name = "other"
	if err := upsert(e, a); err != nil {
		t.Fatal(err)
	}
	if err := upsert(e, b); err == nil {
		t.Fatal("a second service took an existing ClusterIP:port")
	}
	if err := e.sync(context.Background(), []model.Service{a, b}, nil, true); err == nil {
		t.Fatal("Replace accepted two services with one frontend")
	}
	if fe := e.fes[feKey{addr: be32(a.ClusterIP), port: be16(80), proto: 6}]; fe == nil || fe.owner != a.Name {
		t.Fatalf("frontend owner after conflict: %+v", fe)
	}
}

// svcNamed is a one-port ClusterIP service with the given address and
// endpoints (10.244.0.x).
func svcNamed(name, clusterIP string, eps ...int) model.Service {
	s := churnService(eps)
	s.Name.Name = name
	s.ClusterIP = netip.MustParseAddr(clusterIP)
	return s
}

func keyOf(clusterIP string) feKey {
	return feKey{addr: be32(netip.MustParseAddr(clusterIP)), port: be16(80), proto: uint8(model.TCP)}
}

// checkOwners checks who holds each frontend, in the mirror and in the
// owned index, and what the maps reach through it.
func checkOwners(t *testing.T, e *engine, f *fakeMaps, want map[string]string, reach map[string][]int) {
	t.Helper()
	if len(e.fes) != len(want) {
		t.Errorf("%d frontends in the mirror, want %d", len(e.fes), len(want))
	}
	n := 0
	for _, keys := range e.owned {
		n += len(keys)
	}
	if n != len(want) {
		t.Errorf("%d frontends in the owned index, want %d: %v", n, len(want), e.owned)
	}
	for ip, owner := range want {
		fe := e.fes[keyOf(ip)]
		if fe == nil || fe.owner.Name != owner {
			t.Errorf("frontend %s: %+v, want it held by %s", ip, fe, owner)
			continue
		}
		if _, ok := e.owned[fe.owner][fe.key]; !ok {
			t.Errorf("frontend %s is not indexed under %s", ip, owner)
		}
		got, err := reachable(f, keyOf(ip))
		if err != nil {
			t.Errorf("frontend %s: %v", ip, err)
		}
		exp := make(map[netip.Addr]bool)
		for _, ep := range churnService(reach[ip]).Endpoints {
			exp[ep.Addr] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("frontend %s reaches %v, want %v", ip, got, exp)
		}
	}
	if len(f.svc.m) == 0 && len(want) > 0 {
		t.Error("the services map is empty")
	}
	var masters int
	for k := range f.svc.m {
		if k.Slot == 0 {
			masters++
		}
	}
	if masters != len(want) || len(f.rev.m) != len(want) {
		t.Errorf("%d master entries and %d rev-NAT entries, want %d", masters, len(f.rev.m), len(want))
	}
}

// One batch moves a frontend from one service to another (the first
// changed its cluster IP, the second took the old one), whatever the
// order of the two in the batch; the frontend never reaches a missing
// backend meanwhile.
func TestSyncMovesFrontendInOneBatch(t *testing.T) {
	for _, order := range []string{"releaser first", "taker first"} {
		t.Run(order, func(t *testing.T) {
			e, f := fakeEngine()
			ctx := context.Background()
			a, b := svcNamed("a", "10.96.0.1", 1, 2), svcNamed("b", "10.96.0.2", 3)
			if err := e.sync(ctx, []model.Service{a, b}, nil, true); err != nil {
				t.Fatal(err)
			}
			checkOwners(t, e, f, map[string]string{"10.96.0.1": "a", "10.96.0.2": "b"}, map[string][]int{"10.96.0.1": {1, 2}, "10.96.0.2": {3}})
			var failures []string
			f.svc.after = func() {
				for _, ip := range []string{"10.96.0.1", "10.96.0.3"} {
					if _, err := reachable(f, keyOf(ip)); err != nil {
						failures = append(failures, err.Error())
					}
				}
			}
			f.be.after = f.svc.after
			a2, b2 := svcNamed("a", "10.96.0.3", 1, 2), svcNamed("b", "10.96.0.1", 4)
			batch := []model.Service{a2, b2}
			if order == "taker first" {
				batch = []model.Service{b2, a2}
			}
			if err := e.sync(ctx, batch, nil, false); err != nil {
				t.Fatal(err)
			}
			if len(failures) > 0 {
				t.Fatal(failures)
			}
			checkOwners(t, e, f, map[string]string{"10.96.0.1": "b", "10.96.0.3": "a"}, map[string][]int{"10.96.0.1": {4}, "10.96.0.3": {1, 2}})
			if len(f.be.m) != 3 {
				t.Fatalf("%d backend entries, want 3", len(f.be.m))
			}
			// A service that keeps its frontend does not lose it to a
			// newcomer in the same batch, nor to one in a later batch.
			c := svcNamed("c", "10.96.0.1", 5)
			err := e.sync(ctx, []model.Service{c, b2}, nil, false)
			if byService, rest := model.SplitErrors(err); len(byService) != 1 || byService[c.Name] == nil || rest != nil {
				t.Fatalf("a newcomer took a kept frontend: %v", err)
			}
			checkOwners(t, e, f, map[string]string{"10.96.0.1": "b", "10.96.0.3": "a"}, map[string][]int{"10.96.0.1": {4}, "10.96.0.3": {1, 2}})
		})
	}
}

// One batch removes services and upserts others, one of which takes a
// removed service's frontend. The removals are written first: the batch
// needs room for its result only (and for the frontends that change hands,
// their old and new backends).
func TestSyncRemoveAndUpsertInOneBatch(t *testing.T) {
	e, f := fakeEngine()
	ctx := context.Background()
	a, b, old := svcNamed("a", "10.96.0.1", 1, 2, 3), svcNamed("b", "10.96.0.2", 4), svcNamed("old", "10.96.0.9", 8)
	if err := e.sync(ctx, []model.Service{a, b, old}, nil, true); err != nil {
		t.Fatal(err)
	}
	// 5 backends now, 4 after the batch, 5 at most meanwhile.
	f.be.limit = 5
	c, d := svcNamed("c", "10.96.0.9", 5), svcNamed("d", "10.96.0.4", 6, 7)
	if err := e.sync(ctx, []model.Service{c, d}, []types.NamespacedName{a.Name, old.Name}, false); err != nil {
		t.Fatal(err)
	}
	checkOwners(t, e, f, map[string]string{"10.96.0.9": "c", "10.96.0.2": "b", "10.96.0.4": "d"},
		map[string][]int{"10.96.0.9": {5}, "10.96.0.2": {4}, "10.96.0.4": {6, 7}})
	if len(f.be.m) != 4 {
		t.Fatalf("%d backend entries, want 4", len(f.be.m))
	}
	// Removing and upserting the same service: the upsert wins.
	if err := e.sync(ctx, []model.Service{b}, []types.NamespacedName{b.Name}, false); err != nil {
		t.Fatal(err)
	}
	checkOwners(t, e, f, map[string]string{"10.96.0.9": "c", "10.96.0.2": "b", "10.96.0.4": "d"},
		map[string][]int{"10.96.0.9": {5}, "10.96.0.2": {4}, "10.96.0.4": {6, 7}})
	// Replace drops what it does not name.
	if err := e.sync(ctx, []model.Service{d}, nil, true); err != nil {
		t.Fatal(err)
	}
	checkOwners(t, e, f, map[string]string{"10.96.0.4": "d"}, map[string][]int{"10.96.0.4": {6, 7}})
}

// A removal whose writes fail is retried by naming the service again.
func TestSyncRetriesFailedRemoval(t *testing.T) {
	e, f := fakeEngine()
	ctx := context.Background()
	a, b := svcNamed("a", "10.96.0.1", 1), svcNamed("b", "10.96.0.2", 2)
	if err := e.sync(ctx, []model.Service{a, b}, nil, false); err != nil {
		t.Fatal(err)
	}
	f.svc.failDelete = unix.EIO
	if err := e.sync(ctx, nil, []types.NamespacedName{a.Name}, false); err == nil {
		t.Fatal("a failed removal reported no error")
	}
	// Meanwhile another service may not take the frontend.
	c := svcNamed("c", "10.96.0.1", 3)
	f.svc.failDelete = nil
	if err := e.sync(ctx, []model.Service{c}, nil, false); err == nil {
		t.Fatal("a service took the frontend of one whose removal is pending")
	}
	if err := e.sync(ctx, nil, []types.NamespacedName{a.Name}, false); err != nil {
		t.Fatal(err)
	}
	checkOwners(t, e, f, map[string]string{"10.96.0.2": "b"}, map[string][]int{"10.96.0.2": {2}})
	if len(f.be.m) != 1 {
		t.Fatalf("%d backend entries, want 1", len(f.be.m))
	}
}

// In a batch, a service that does not fit in a full map fails alone: the
// others are programmed.
func TestSyncBatchMapFull(t *testing.T) {
	e, f := fakeEngine()
	f.be.limit = 3
	small, big, other := svcNamed("small", "10.96.0.1", 1), svcNamed("big", "10.96.0.2", 2, 3, 4), svcNamed("other", "10.96.0.3", 5)
	// The batch's backends fail to write at big's second: the phases that
	// would make small and other reachable never run in the batch.
	err := e.sync(context.Background(), []model.Service{small, other, big}, nil, false)
	byService, rest := model.SplitErrors(err)
	if len(byService) != 1 || !errors.Is(byService[big.Name], ErrMapFull) || rest != nil {
		t.Fatalf("errors %v, want ErrMapFull for %s alone", err, big.Name)
	}
	if _, ok := e.owned[big.Name]; !ok {
		t.Fatalf("the failed service lost track of its frontend")
	}
	for _, ip := range []string{"10.96.0.1", "10.96.0.3"} {
		if got, err := reachable(f, keyOf(ip)); err != nil || len(got) != 1 {
			t.Fatalf("frontend %s reaches %v, %v", ip, got, err)
		}
	}
}

// A UDP backend removed from one service but kept by another is not
// reported for socket destruction: the sockets are matched by backend
// address, and the other service's clients must keep theirs.
func TestRemovedUDPBackendsSkipsSharedOnes(t *testing.T) {
	e, _ := fakeEngine()
	udp := func(name, clusterIP string, eps ...int) model.Service {
		s := svcNamed(name, clusterIP, eps...)
		s.Ports = []model.Port{{Name: "http", Protocol: model.UDP, Port: 53}}
		return s
	}
	ctx := context.Background()
	if err := e.sync(ctx, []model.Service{udp("a", "10.96.0.1", 1, 2), udp("b", "10.96.0.2", 2)}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := upsert(e, udp("a", "10.96.0.1", 1)); err != nil {
		t.Fatal(err)
	}
	if got := e.takeRemovedUDP(); len(got) != 0 {
		t.Fatalf("removed %v, want none: service b still uses the backend", got)
	}
	if err := e.sync(ctx, nil, []types.NamespacedName{{Namespace: "ns", Name: "b"}}, false); err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("10.244.0.3"), 8080)
	if got := e.takeRemovedUDP(); len(got) != 1 || got[0] != want {
		t.Fatalf("removed %v, want [%v]", got, want)
	}
}
