package dataplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nsutil"
)

// attachPodDevices attaches the pod program to the configured pod devices
// that exist; the others are attached by watchPodDevices when they appear
// (the CNI bridge comes with the first pod).
func (d *Dataplane) attachPodDevices() error {
	for _, dev := range d.cfg.PodDevices {
		var ifindex int
		err := nsutil.Do(d.cfg.NetNS, func() error {
			l, err := netlink.LinkByName(dev)
			if err == nil {
				ifindex = l.Attrs().Index
			}
			return err
		})
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			d.log.Info("pod device not there yet; attaching when it appears", "device", dev)
			continue
		}
		if err == nil {
			err = d.attachPodDevice(dev, ifindex)
		}
		if err != nil {
			return fmt.Errorf("pod device %s: %w", dev, err)
		}
	}
	return nil
}

// attachPodDevice attaches to dev unless it is attached at ifindex
// already. The caller holds no lock.
func (d *Dataplane) attachPodDevice(dev string, ifindex int) error {
	d.podMu.Lock()
	defer d.podMu.Unlock()
	if d.podAttached[dev] == ifindex {
		return nil
	}
	if err := d.lb.AttachPodDevice(d.cfg.NetNS, dev, d.cfg.TCAttach); err != nil {
		return err
	}
	d.podAttached[dev] = ifindex
	d.log.Info("attached to pod device", "device", dev)
	return nil
}

// watchPodDevices attaches to pod devices created (or re-created) after
// the start, until ctx is done.
func (d *Dataplane) watchPodDevices(ctx context.Context) {
	want := make(map[string]bool, len(d.cfg.PodDevices))
	for _, dev := range d.cfg.PodDevices {
		want[dev] = true
	}
	var ns *netns.NsHandle // nil: the current namespace
	if d.cfg.NetNS != "" {
		h, err := netns.GetFromPath(d.cfg.NetNS)
		if err != nil {
			d.log.Error("cannot watch for pod devices", "err", err)
			return
		}
		defer h.Close()
		ns = &h
	}
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		Namespace:    ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			d.log.Warn("watch for pod devices", "err", err)
		},
	})
	if err != nil {
		d.log.Error("cannot watch for pod devices", "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			name := u.Link.Attrs().Name
			if u.Header.Type != unix.RTM_NEWLINK || !want[name] {
				continue
			}
			if err := d.attachPodDevice(name, u.Link.Attrs().Index); err != nil {
				d.log.Error("attach to pod device", "device", name, "err", err)
			}
		}
	}
}
