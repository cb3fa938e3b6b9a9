package lb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// Cleanup detaches every link pinned under pinDir (even if a running
// process still holds it) and removes the pinned links and maps, then the
// directory.
func Cleanup(pinDir string) error {
	var errs []error
	linkDir := filepath.Join(pinDir, linksDir)
	entries, err := os.ReadDir(linkDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", linkDir, err)
	}
	for _, e := range entries {
		path := filepath.Join(linkDir, e.Name())
		l, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("open link %s: %w", e.Name(), err))
			continue
		}
		if err := l.Detach(); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("detach %s: %w", e.Name(), err))
		}
		errs = append(errs, l.Unpin(), l.Close())
	}
	for _, name := range pinnedMaps {
		if err := os.Remove(filepath.Join(pinDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, dir := range []string{linkDir, pinDir} {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CleanupDevices removes the clsact filters skiff added to any device in
// the network namespace at netnsPath ("" = current).
func CleanupDevices(netnsPath string) error {
	return nsutil.Do(netnsPath, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list devices: %w", err)
		}
		var errs []error
		for _, l := range links {
			for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
				filters, err := netlink.FilterList(l, parent)
				if err != nil {
					continue // no clsact qdisc
				}
				for _, f := range filters {
					if bf, ok := f.(*netlink.BpfFilter); ok && strings.HasPrefix(bf.Name, "skiff_") {
						errs = append(errs, netlink.FilterDel(f))
					}
				}
			}
		}
		return errors.Join(errs...)
	})
}
