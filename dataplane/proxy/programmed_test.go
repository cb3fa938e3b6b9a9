package proxy

import (
	"context"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func sliceAt(name, rv string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, ResourceVersion: rv}}
}

// The bookkeeping behind EndpointSliceProgrammed and EndpointSliceRemoved.
func TestProgrammedRecords(t *testing.T) {
	t0 := time.Now()
	p := newProgrammed(t0)
	web := types.NamespacedName{Namespace: "default", Name: "web"}
	api := types.NamespacedName{Namespace: "default", Name: "api"}
	key := types.NamespacedName{Namespace: "default", Name: "web-1"}
	programmedAt := func(rv string) (time.Time, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		at, err := p.wait(ctx, key, func(rec sliceRecord, ok bool) (time.Time, bool) {
			return rec.at, ok && (rec.gone || atLeast(rec.rv, rv))
		})
		return at, err == nil
	}

	if _, ok := programmedAt("5"); ok {
		t.Fatal("a slice never programmed counts as programmed")
	}
	t1 := t0.Add(time.Second)
	p.record(web, []*discoveryv1.EndpointSlice{sliceAt("web-1", "5")}, t1)
	if at, ok := programmedAt("5"); !ok || !at.Equal(t1) {
		t.Fatalf("version 5: %v %v, want programmed at %v", at, ok, t1)
	}
	if _, ok := programmedAt("12"); ok {
		t.Fatal("version 5 counts for version 12")
	}
	if at, ok := programmedAt("3"); !ok || !at.Equal(t1) {
		t.Fatal("version 5 does not count for version 3")
	}
	// A sync of the service that leaves the slice as it was keeps its time.
	p.record(web, []*discoveryv1.EndpointSlice{sliceAt("web-1", "5")}, t1.Add(time.Second))
	if at, _ := programmedAt("5"); !at.Equal(t1) {
		t.Fatalf("an unchanged slice moved to %v", at)
	}
	// Moved to another service: the old one's sync does not remove it.
	t2 := t1.Add(2 * time.Second)
	p.record(api, []*discoveryv1.EndpointSlice{sliceAt("web-1", "12")}, t2)
	p.record(web, nil, t2)
	if at, ok := programmedAt("12"); !ok || !at.Equal(t2) || p.slices[key].gone {
		t.Fatalf("the moved slice: %+v", p.slices[key])
	}
	// Removed: waits for any version return.
	t3 := t2.Add(time.Second)
	p.record(api, nil, t3)
	if at, ok := programmedAt("99"); !ok || !at.Equal(t3) || !p.slices[key].gone {
		t.Fatalf("the removed slice: %+v", p.slices[key])
	}
	// Tombstones are forgotten after tombstoneTTL.
	p.record(api, nil, t3.Add(2*tombstoneTTL))
	if _, ok := p.slices[key]; ok {
		t.Fatal("the tombstone outlived its TTL")
	}
}

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{{"10", "9", true}, {"10", "10", true}, {"9", "10", false}, {"abc", "abc", true}, {"abc", "abd", false}, {"10", "x", false}} {
		if got := atLeast(tc.have, tc.want); got != tc.ok {
			t.Errorf("atLeast(%q, %q) = %v", tc.have, tc.want, got)
		}
	}
}
