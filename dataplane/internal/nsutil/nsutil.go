// Package nsutil runs code inside another network namespace. The calling
// goroutine's OS thread switches namespaces for the duration of the call;
// sockets, links and child processes created meanwhile belong to the
// target namespace.
package nsutil

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn with the current thread in the network namespace at path. An
// empty path runs fn in the current namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer target.Close()
	var fnErr error
	err = inThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return fmt.Errorf("open current netns: %w", err)
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		fnErr = fn()
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the wrong namespace: keep it locked
			// so the runtime retires it instead of reusing it.
			return errStuck{err}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fnErr
}

type errStuck struct{ err error }

func (e errStuck) Error() string { return fmt.Sprintf("restore netns: %v", e.err) }

// inThread runs fn on a fresh locked goroutine, so a thread that cannot be
// restored dies with it.
func inThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if _, stuck := err.(errStuck); !stuck {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Cookie returns the network namespace's cookie (SO_NETNS_COOKIE), the
// identity BPF programs see from bpf_get_netns_cookie.
func Cookie(path string) (uint64, error) {
	var cookie uint64
	err := Do(path, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns cookie: %w", err)
	}
	return cookie, nil
}
