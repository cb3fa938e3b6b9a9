// Package testenv lets tests state what they need from the machine (root,
// kernel features, installed programs). In CI (CI set in the environment),
// a missing requirement fails the test loudly; elsewhere it skips with the
// reason, so a developer laptop can still run the rest.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where every requirement is
// present and a missing one is a failure.
func InCI() bool { return os.Getenv("CI") != "" }

// Require fails (in CI) or skips (elsewhere) the test when ok is false.
func Require(tb testing.TB, ok bool, why string) {
	tb.Helper()
	if ok {
		return
	}
	if InCI() {
		tb.Fatalf("requirement missing in CI: %s", why)
	}
	tb.Skipf("skipping: %s", why)
}

// RequireRoot requires the test to run as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	Require(tb, os.Geteuid() == 0, "test needs root")
}

// RequireCommand requires an executable on PATH and returns its path.
func RequireCommand(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	Require(tb, err == nil, name+" not found on PATH")
	return p
}

// FreePorts returns n distinct localhost TCP ports that were free a moment
// ago, for components the test starts on their own ports.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports, err := FindFreePorts(n)
	if err != nil {
		tb.Fatal(err)
	}
	return ports
}

// FindFreePorts is FreePorts for callers without a testing.TB (TestMain).
func FindFreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
