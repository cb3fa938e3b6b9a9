package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// backendPort is the endpoints' target port.
const backendPort = 8080

// backend is the Go HTTP server behind every endpoint of the measured
// service: one listener on all addresses of the backend namespace,
// counting requests by the endpoint address they reached.
type backend struct {
	srv   *http.Server
	done  chan error
	index map[netip.Addr]int
	hits  []atomic.Int64
}

var okBody = []byte("ok\n")

// startBackend serves in the namespace until close.
func startBackend(ns netNS, endpoints []netip.Addr) (*backend, error) {
	b := &backend{done: make(chan error, 1), index: make(map[netip.Addr]int, len(endpoints)), hits: make([]atomic.Int64, len(endpoints))}
	for i, a := range endpoints {
		b.index[a] = i
	}
	var ln net.Listener
	if err := inNetNS(ns.path, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", backendPort))
		return err
	}); err != nil {
		return nil, fmt.Errorf("backend listen: %w", err)
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { b.done <- b.srv.Serve(ln) }()
	return b, nil
}

// serve answers a short body. A request with "Connection: close" gets
// one, and the server closes first, as the new-connection runs want.
func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			if i, ok := b.index[ip.Unmap()]; ok {
				b.hits[i].Add(1)
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(okBody)
}

// reset zeroes the counters.
func (b *backend) reset() {
	for i := range b.hits {
		b.hits[i].Store(0)
	}
}

// served returns the requests each endpoint address received.
func (b *backend) served() []int64 {
	out := make([]int64, len(b.hits))
	for i := range b.hits {
		out[i] = b.hits[i].Load()
	}
	return out
}

// close stops the server and its connections.
func (b *backend) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if err != nil {
		err = b.srv.Close()
	}
	if serr := <-b.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
