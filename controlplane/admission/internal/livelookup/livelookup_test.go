package livelookup

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lists are made once per namespace and TTL, shared by concurrent
// callers; failures are not remembered.
func TestList(t *testing.T) {
	c := New[string](time.Hour)
	var calls atomic.Int32
	release := make(chan struct{})
	list := func(context.Context) ([]string, error) {
		calls.Add(1)
		<-release
		return []string{"a"}, nil
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if items, err := c.List(context.Background(), "ns", list); err != nil || len(items) != 1 {
				t.Errorf("got %v, %v", items, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if _, err := c.List(context.Background(), "ns", list); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d lists, want 1", n)
	}

	fail := errors.New("down")
	if _, err := c.List(context.Background(), "other", func(context.Context) ([]string, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("got %v, want the list's error", err)
	}
	items, err := c.List(context.Background(), "other", func(context.Context) ([]string, error) { return []string{"b"}, nil })
	if err != nil || len(items) != 1 || items[0] != "b" {
		t.Errorf("after a failure: %v, %v", items, err)
	}
}

// A list stands only for its TTL.
func TestExpiry(t *testing.T) {
	c := New[string](10 * time.Millisecond)
	n := 0
	list := func(context.Context) ([]string, error) { n++; return nil, nil }
	_, _ = c.List(context.Background(), "ns", list)
	time.Sleep(30 * time.Millisecond)
	_, _ = c.List(context.Background(), "ns", list)
	if n != 2 {
		t.Errorf("%d lists, want 2", n)
	}
}
