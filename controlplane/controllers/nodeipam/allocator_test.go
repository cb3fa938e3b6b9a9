package nodeipam

import (
	"errors"
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestAllocator(t *testing.T) {
	a, err := newAllocator(netip.MustParsePrefix("10.42.0.0/22"), 24)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.size() {
		j, err := a.index(a.subnet(i))
		if err != nil || j != i {
			t.Errorf("index(subnet(%d) = %s) = %d, %v", i, a.subnet(i), j, err)
		}
	}
	if _, err := a.occupy(netip.MustParsePrefix("10.42.1.0/24"), "old", "u-old"); err != nil {
		t.Fatal(err)
	}
	if owner, _ := a.occupy(netip.MustParsePrefix("10.42.1.0/24"), "dup", "u-dup"); owner != "old" {
		t.Errorf("second claim on 10.42.1.0/24: owner %q, want old", owner)
	}
	if _, err := a.occupy(netip.MustParsePrefix("10.43.0.0/24"), "x", "u-x"); !errors.Is(err, errOutside) {
		t.Errorf("occupy outside: %v", err)
	}
	var got []string
	for _, n := range []string{"a", "b", "c"} {
		p, fresh, err := a.allocate(n, types.UID("u-"+n))
		if err != nil || !fresh {
			t.Fatalf("allocate %s: %v, %v", n, p, err)
		}
		got = append(got, p.String())
	}
	if want := "[10.42.0.0/24 10.42.2.0/24 10.42.3.0/24]"; "["+got[0]+" "+got[1]+" "+got[2]+"]" != want {
		t.Errorf("allocated %v, want %s", got, want)
	}
	if p, fresh, _ := a.allocate("b", "u-b"); fresh || p.String() != "10.42.2.0/24" {
		t.Errorf("allocate again for b: %s, fresh %v", p, fresh)
	}
	if _, _, err := a.allocate("d", "u-d"); !errors.Is(err, errFull) {
		t.Errorf("allocate in a full range: %v", err)
	}
	if p, ok := a.release("b"); !ok || p.String() != "10.42.2.0/24" {
		t.Errorf("release b = %s, %v", p, ok)
	}
	if p, _, err := a.allocate("d", "u-d"); err != nil || p.String() != "10.42.2.0/24" {
		t.Errorf("allocate after release: %s, %v", p, err)
	}
	// A node re-created under the same name gets a CIDR afresh.
	a.release("c")
	if p, fresh, err := a.allocate("a", "u-a2"); err != nil || !fresh || p.String() != "10.42.3.0/24" {
		t.Errorf("allocate for a new node a: %s, fresh %v, %v", p, fresh, err)
	}
	if a.used() != 3 {
		t.Errorf("used = %d, want 3", a.used())
	}
}
