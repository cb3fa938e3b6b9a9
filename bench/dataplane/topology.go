package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Every host resource the suite makes is named with this prefix and the
// pid of the process that made it, so that a later run removes what a
// killed one left behind, and nothing else.
const resourcePrefix = "skbdp-"

// The address plan of a topology; the node forwards between its three
// links and has no route off them.
var (
	nodePodAddr    = netip.MustParseAddr("10.200.0.1") // pod0
	podAddr        = netip.MustParseAddr("10.200.0.2")
	nodeBackAddr   = netip.MustParseAddr("10.201.0.1") // bk0
	backendFirst   = netip.MustParseAddr("10.201.0.10")
	nodeExtAddr    = netip.MustParseAddr("10.202.0.1") // ext0: the NodePort device
	clientAddr     = netip.MustParseAddr("10.202.0.2")
	serviceCIDR    = netip.MustParsePrefix("10.96.0.0/16")
	dummyEndpoints = netip.MustParsePrefix("10.128.0.0/9")
)

// Node devices.
const (
	devPod     = "pod0"
	devBackend = "bk0"
	devExt     = "ext0"
)

// netNS is a named network namespace (`ip netns`).
type netNS struct{ name, path string }

func namedNS(name string) netNS { return netNS{name: name, path: filepath.Join("/run/netns", name)} }

// topology is one measurement's namespaces: pod and client (wrk), node
// (the dataplane), backend (the HTTP server).
type topology struct {
	node, pod, client, backend netNS
}

// newTopology builds the namespaces named after prefix, their links,
// addresses and routes. On error nothing is left behind.
func newTopology(ctx context.Context, prefix string, endpoints int) (t *topology, err error) {
	t = &topology{
		node: namedNS(prefix + "-n"), pod: namedNS(prefix + "-p"),
		client: namedNS(prefix + "-c"), backend: namedNS(prefix + "-b"),
	}
	var made []netNS
	defer func() {
		if err != nil {
			for _, ns := range made {
				_ = ipCmd(context.Background(), "", "netns", "del", ns.name)
			}
		}
	}()
	for _, ns := range t.all() {
		if err := ipCmd(ctx, "", "netns", "add", ns.name); err != nil {
			return nil, err
		}
		made = append(made, ns)
	}
	mask := func(a netip.Addr) string { return a.String() + "/24" }
	node := []string{
		"link set lo up",
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", devPod, t.pod.name),
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", devBackend, t.backend.name),
		fmt.Sprintf("link add %s type veth peer name eth0 netns %s", devExt, t.client.name),
		fmt.Sprintf("addr add %s dev %s", mask(nodePodAddr), devPod),
		fmt.Sprintf("addr add %s dev %s", mask(nodeBackAddr), devBackend),
		fmt.Sprintf("addr add %s dev %s", mask(nodeExtAddr), devExt),
		"link set " + devPod + " up", "link set " + devBackend + " up", "link set " + devExt + " up",
		// Nothing may leave for a service or endpoint address that no
		// translation claims (the node has no route off its links anyway).
		"route add unreachable " + serviceCIDR.String(),
		"route add unreachable " + dummyEndpoints.String(),
	}
	leaf := func(self, gw netip.Addr, extra ...string) []string {
		return append([]string{
			"link set lo up",
			"addr add " + mask(self) + " dev eth0",
			"link set eth0 up",
			"route add default via " + gw.String(),
		}, extra...)
	}
	var backendAddrs []string
	for _, a := range endpointAddrs(endpoints) {
		backendAddrs = append(backendAddrs, "addr add "+mask(a)+" dev eth0")
	}
	for _, step := range []struct {
		ns    netNS
		batch []string
	}{
		{t.node, node},
		{t.pod, leaf(podAddr, nodePodAddr)},
		{t.client, leaf(clientAddr, nodeExtAddr)},
		{t.backend, leaf(netip.MustParseAddr("10.201.0.2"), nodeBackAddr, backendAddrs...)},
	} {
		if err := ipBatch(ctx, step.ns, step.batch); err != nil {
			return nil, err
		}
	}
	sysctls := []struct {
		ns         netNS
		key, value string
	}{
		{t.node, "net/ipv4/ip_forward", "1"},
		// The backend closes first: without TIME_WAIT, a reused client port
		// never meets a stale socket whose timestamps drop the new SYN.
		{t.backend, "net/ipv4/tcp_max_tw_buckets", "0"},
	}
	for _, s := range sysctls {
		if err := inNetNS(s.ns.path, func() error {
			return os.WriteFile("/proc/sys/"+s.key, []byte(s.value), 0o644)
		}); err != nil {
			return nil, fmt.Errorf("sysctl %s in %s: %w", s.key, s.ns.name, err)
		}
	}
	return t, nil
}

func (t *topology) all() []netNS { return []netNS{t.node, t.pod, t.client, t.backend} }

// close deletes the namespaces, with their links, routes, rules and
// conntrack.
func (t *topology) close() error {
	var errs []error
	for _, ns := range t.all() {
		errs = append(errs, ipCmd(context.Background(), "", "netns", "del", ns.name))
	}
	return errors.Join(errs...)
}

// flushConntrack empties the node's conntrack table (iptables modes keep
// one; the other modes have none and nothing to flush).
func (t *topology) flushConntrack(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "conntrack", "-F")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := inNetNS(t.node.path, cmd.Start); err != nil {
		return fmt.Errorf("conntrack -F: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("conntrack -F: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// endpointAddrs are the measured service's endpoints: addresses of the
// backend namespace.
func endpointAddrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	a := backendFirst
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

func ipCmd(ctx context.Context, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ipBatch(ctx context.Context, ns netNS, lines []string) error {
	return ipCmd(ctx, strings.Join(lines, "\n")+"\n", "-n", ns.name, "-batch", "-")
}

// inNetNS runs fn on an OS thread that has entered the network namespace
// at path: sockets, /proc/sys/net writes and child processes made by fn
// belong to it. The thread returns to its namespace afterwards, or is
// retired if it cannot.
func inNetNS(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer target.Close()
	var fnErr error
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		fnErr = fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime retires the thread with the goroutine.
			done <- fmt.Errorf("restore netns: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		return err
	}
	return fnErr
}

// startIn starts cmd inside a network namespace and born inside a cgroup
// (so that cgroup socket programs see its first socket); it is killed if
// the benchmark dies.
func startIn(ns netNS, cgroup *os.File, cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgroup.Fd()), Pdeathsig: syscall.SIGKILL}
	return inNetNS(ns.path, cmd.Start)
}

// cgroups are the suite's two cgroup v2 directories: pods (the socket
// programs attach here; the ClusterIP client runs here) and outside (no
// programs: the NodePort client, an external one).
type cgroups struct {
	pods, outside       string
	podsDir, outsideDir *os.File
}

func newCgroups(pid int) (*cgroups, error) {
	root, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	c := &cgroups{
		pods:    filepath.Join(root, fmt.Sprintf("%s%d-pods", resourcePrefix, pid)),
		outside: filepath.Join(root, fmt.Sprintf("%s%d-outside", resourcePrefix, pid)),
	}
	for _, d := range []struct {
		path string
		f    **os.File
	}{{c.pods, &c.podsDir}, {c.outside, &c.outsideDir}} {
		if err := os.Mkdir(d.path, 0o755); err != nil {
			c.close()
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		if *d.f, err = os.Open(d.path); err != nil {
			c.close()
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
	}
	return c, nil
}

// close removes the directories; their processes (wrk) have exited.
func (c *cgroups) close() error {
	var errs []error
	for _, d := range []struct {
		path string
		f    *os.File
	}{{c.pods, c.podsDir}, {c.outside, c.outsideDir}} {
		if d.f != nil {
			d.f.Close()
		}
		if err := os.Remove(d.path); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// cgroup2Root finds the cgroup v2 hierarchy in /proc/self/mountinfo.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if fields := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(fields) >= 5 {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted")
}

var leftover = regexp.MustCompile("^" + resourcePrefix + `(\d+)-`)

// sweepLeftovers removes the namespaces and cgroups of earlier runs whose
// process is gone (killed before it could clean up), and returns what it
// removed.
func sweepLeftovers(ctx context.Context) ([]string, error) {
	dead := func(name string) bool {
		m := leftover.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		pid, _ := strconv.Atoi(m[1])
		return pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH
	}
	var removed []string
	var errs []error
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if dead(e.Name()) {
				removed = append(removed, "netns "+e.Name())
				errs = append(errs, ipCmd(ctx, "", "netns", "del", e.Name()))
			}
		}
	}
	root, err := cgroup2Root()
	if err != nil {
		return removed, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return removed, err
	}
	for _, e := range entries {
		if e.IsDir() && dead(e.Name()) {
			removed = append(removed, "cgroup "+e.Name())
			errs = append(errs, os.Remove(filepath.Join(root, e.Name())))
		}
	}
	return removed, errors.Join(errs...)
}
