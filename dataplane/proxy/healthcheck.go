package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/dataplane/model"
)

// HealthServer answers on each externalTrafficPolicy: Local service's
// healthCheckNodePort whether this node has local endpoints for it (200)
// or not (503), as kube-proxy does, so that external load balancers send
// traffic only to nodes that keep it local.
type HealthServer struct {
	netns string
	log   *slog.Logger

	mu      sync.Mutex
	byPort  map[uint16]*healthEndpoint
	ownerOf map[types.NamespacedName]uint16
}

type healthEndpoint struct {
	name  types.NamespacedName
	local int
	srv   *http.Server
}

// NewHealthServer returns a HealthServer whose listeners open in the
// network namespace at netnsPath ("" = current).
func NewHealthServer(netnsPath string, log *slog.Logger) *HealthServer {
	return &HealthServer{netns: netnsPath, log: log, byPort: make(map[uint16]*healthEndpoint), ownerOf: make(map[types.NamespacedName]uint16)}
}

// Upsert starts, updates or stops the health check of one service.
func (h *HealthServer) Upsert(svc model.Service) {
	h.mu.Lock()
	defer h.mu.Unlock()
	port := uint16(0)
	if svc.ExternalLocal {
		port = svc.HealthCheckNodePort
	}
	if old, ok := h.ownerOf[svc.Name]; ok && old != port {
		h.stop(old)
		delete(h.ownerOf, svc.Name)
	}
	if port == 0 {
		return
	}
	ep := h.byPort[port]
	if ep == nil {
		ep = &healthEndpoint{name: svc.Name}
		if err := h.start(port, ep); err != nil {
			h.log.Error("health check node port", "service", svc.Name, "port", port, "err", err)
			return
		}
		h.byPort[port] = ep
	}
	ep.name = svc.Name
	ep.local = svc.LocalActiveEndpoints()
	h.ownerOf[svc.Name] = port
}

// Delete stops the health check of a service.
func (h *HealthServer) Delete(name types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if port, ok := h.ownerOf[name]; ok {
		h.stop(port)
		delete(h.ownerOf, name)
	}
}

// Replace makes the served health checks exactly those of svcs.
func (h *HealthServer) Replace(svcs []model.Service) {
	keep := make(map[types.NamespacedName]bool, len(svcs))
	for _, s := range svcs {
		keep[s.Name] = true
		h.Upsert(s)
	}
	h.mu.Lock()
	var gone []types.NamespacedName
	for name := range h.ownerOf {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	h.mu.Unlock()
	for _, name := range gone {
		h.Delete(name)
	}
}

// Close stops every listener.
func (h *HealthServer) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for port := range h.byPort {
		h.stop(port)
	}
	h.ownerOf = make(map[types.NamespacedName]uint16)
}

func (h *HealthServer) start(port uint16, ep *healthEndpoint) error {
	var l net.Listener
	err := nsutil.Do(h.netns, func() error {
		var err error
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return err
	}
	ep.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		name, local := ep.name, ep.local
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if local == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"service":             map[string]string{"namespace": name.Namespace, "name": name.Name},
			"localEndpoints":      local,
			"serviceProxyHealthy": true,
		})
	})}
	go func() {
		if err := ep.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("health check server", "port", port, "err", err)
		}
	}()
	return nil
}

func (h *HealthServer) stop(port uint16) {
	if ep := h.byPort[port]; ep != nil {
		ep.srv.Close()
		delete(h.byPort, port)
	}
}
