package plugins

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

func TestNewNeedsAClient(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("built without a client")
	}
}

// Start runs until its context ends, and the chain has every plugin.
func TestStartStops(t *testing.T) {
	p, err := New(Config{Client: fake.NewClientset()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Chain.Mutators) != 5 || len(p.Chain.Validators) != 5 || p.Evictor == nil {
		t.Fatalf("chain %+v", p.Chain)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
}
