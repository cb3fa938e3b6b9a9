// Package nettest builds throw-away network topologies for dataplane
// tests: network namespaces joined by veths, cgroup v2 subtrees, backend
// servers that name themselves and their client, and a client process
// started inside a namespace and a cgroup. Everything is removed by
// t.Cleanup, also when the test fails.
package nettest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/internal/testenv"
)

// CgroupV2Root is where this machine mounts the cgroup v2 hierarchy.
const CgroupV2Root = "/sys/fs/cgroup/unified"

// Require skips (or fails in CI) unless the test can build topologies.
func Require(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	_, err := os.Stat(filepath.Join(CgroupV2Root, "cgroup.procs"))
	testenv.Require(t, err == nil, "cgroup v2 hierarchy at "+CgroupV2Root)
}

// Unique returns a short random name with the given prefix.
func Unique(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NS is a network namespace made by the test.
type NS struct {
	Name string
	Path string
}

// NewNS creates a network namespace with loopback up.
func NewNS(t testing.TB, short string) *NS {
	t.Helper()
	name := Unique("sk" + short + "-")
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ns := &NS{Name: name, Path: filepath.Join("/run/netns", name)}
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// IP runs `ip -n <ns> args...`.
func (ns *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Exec runs a command inside the namespace.
func (ns *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Sysctl sets a sysctl inside the namespace.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	ns.Exec(t, "sysctl", "-q", "-w", key+"="+value)
}

// Do runs fn with the calling thread inside the namespace.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := nsutil.Do(ns.Path, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns.Name, err)
	}
}

// Link joins two namespaces with a veth pair and addresses both ends
// (CIDR notation, e.g. 10.0.0.1/24).
func Link(t testing.TB, a *NS, aDev, aAddr string, b *NS, bDev, bAddr string) {
	t.Helper()
	tmp := Unique("skv")
	run(t, "ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp+"p")
	t.Cleanup(func() { exec.Command("ip", "link", "del", tmp).Run() })
	run(t, "ip", "link", "set", tmp, "netns", a.Name, "name", aDev)
	run(t, "ip", "link", "set", tmp+"p", "netns", b.Name, "name", bDev)
	for _, end := range []struct {
		ns        *NS
		dev, addr string
	}{{a, aDev, aAddr}, {b, bDev, bAddr}} {
		if end.addr != "" {
			end.ns.IP(t, "addr", "add", end.addr, "dev", end.dev)
		}
		end.ns.IP(t, "link", "set", end.dev, "up")
	}
}

// Cgroup creates a cgroup v2 directory for the test and removes it at
// cleanup, after the processes in it are gone.
func Cgroup(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(CgroupV2Root, Unique("skiff-test-"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})
	return dir
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
