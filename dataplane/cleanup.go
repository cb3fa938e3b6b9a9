package dataplane

import (
	"errors"
	"fmt"

	"skiff.dev/skiff/dataplane/iptables"
	"skiff.dev/skiff/dataplane/lb"
)

// CleanupConfig says where skiff's dataplane state lives on a node.
type CleanupConfig struct {
	// PinDir is the bpffs directory of the node's pins (DefaultPinDir).
	PinDir string
	// NetNS is the node's network namespace path ("" = current).
	NetNS string
	// IPTablesBackends lists the iptables back ends to clean; default both.
	IPTablesBackends []string
}

// Cleanup removes everything skiff's dataplane attached on a node: pinned
// links (detaching the programs) and maps, clsact filters, the unreachable
// routes, and the iptables chains of the reference mode. It is what
// `skiff dataplane cleanup` runs; it works whether or not a dataplane
// process is running.
func Cleanup(cfg CleanupConfig) error {
	var errs []error
	if cfg.PinDir != "" {
		if err := lb.Cleanup(cfg.PinDir); err != nil {
			errs = append(errs, fmt.Errorf("pins: %w", err))
		}
	}
	if err := lb.CleanupDevices(cfg.NetNS); err != nil {
		errs = append(errs, fmt.Errorf("tc filters: %w", err))
	}
	if err := removeRoutes(cfg.NetNS); err != nil {
		errs = append(errs, fmt.Errorf("routes: %w", err))
	}
	backends := cfg.IPTablesBackends
	if backends == nil {
		backends = []string{"legacy", "nft"}
	}
	for _, b := range backends {
		if err := iptables.Cleanup(cfg.NetNS, b); err != nil {
			errs = append(errs, fmt.Errorf("iptables-%s: %w", b, err))
		}
	}
	return errors.Join(errs...)
}

// ServiceEntry is one frontend with its backends, as `skiff dataplane
// services` prints it.
type ServiceEntry = lb.ServiceEntry

// BackendEntry is one backend of a ServiceEntry.
type BackendEntry = lb.BackendEntry

// ConntrackEntry is one NodePort conntrack entry.
type ConntrackEntry = lb.ConntrackEntry

// ListServices reads the programmed frontends from a node's pinned maps.
func ListServices(pinDir string) ([]ServiceEntry, error) { return lb.ListServices(pinDir) }

// ListConntrack reads a node's NodePort conntrack entries.
func ListConntrack(pinDir string) ([]ConntrackEntry, error) { return lb.ListConntrack(pinDir) }
