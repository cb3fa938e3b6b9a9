package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/model"
)

// childEnv carries a childConfig to a dataplane process started by the
// restart test (the test binary, re-executed).
const childEnv = "SKIFF_DP_CHILD"

type childConfig struct {
	Config   Config
	Services []model.Service
}

// runChild is a dataplane process: it programs the services, says
// "ready", and runs until its stdin closes or it is killed.
func runChild() int {
	var cc childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cc.Config.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dp, err := New(cc.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataplane:", err)
		return 1
	}
	if err := dp.Replace(context.Background(), cc.Services); err != nil {
		fmt.Fprintln(os.Stderr, "replace:", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	dp.Close()
	return 0
}

// startChild starts a dataplane process and waits until it has programmed
// the services.
func startChild(t *testing.T, cc childConfig) *exec.Cmd {
	t.Helper()
	cc.Config.Logger = nil
	b, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("dataplane process did not become ready: %q %v", line, err)
	}
	return cmd
}

func e2eService() model.Service {
	eps := []model.Endpoint{
		{Addr: netip.MustParseAddr("10.244.1.2"), Local: true},
		{Addr: netip.MustParseAddr("10.244.2.2")},
	}
	for i := range eps {
		eps[i].Ports = []model.EndpointPort{{Name: "http", Port: 8080}}
		eps[i].Ready, eps[i].Serving = true, true
	}
	return model.Service{
		Name:      types.NamespacedName{Namespace: "default", Name: "web"},
		ClusterIP: netip.MustParseAddr(svcVIP),
		Ports:     []model.Port{{Name: "http", Protocol: model.TCP, Port: 80, NodePort: 30080}},
		Endpoints: eps,
	}
}

func mountBPFFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return filepath.Join(dir, "skiff", "node1")
}

func connect4Programs(t *testing.T, cgroup string) int {
	t.Helper()
	f, err := os.Open(cgroup)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupInet4Connect})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Programs)
}

// TestRestart kills the dataplane process with connections open: they
// keep working, new connections succeed while no process runs, and a new
// process takes the pinned programs and maps over. Cleanup then removes
// everything.
func TestRestart(t *testing.T) {
	c := newCluster(t)
	cfg := c.config(ModeEBPF)
	cfg.Unpinned = false
	cfg.PinDir = mountBPFFS(t)
	cfg.Logger = nil
	cc := childConfig{Config: cfg, Services: []model.Service{e2eService()}}
	t.Cleanup(func() { Cleanup(CleanupConfig{PinDir: cfg.PinDir, NetNS: c.node1.Path, IPTablesBackends: []string{}}) })

	first := startChild(t, cc)
	pod := nettest.StartClient(t, c.cgroup, c.pod)
	ext := nettest.StartClient(t, c.outside, c.client)
	nodePort := node1IP + ":30080"
	for _, h := range []struct {
		client   *nettest.Client
		id, addr string
	}{{pod, "cip", svcVIP + ":80"}, {ext, "np", nodePort}} {
		if r := h.client.Do(nettest.Request{Op: "hold", ID: h.id, Addr: h.addr, Msg: "hi"}); r.Err != "" {
			t.Fatalf("hold %s: %+v", h.addr, r)
		}
	}

	first.Process.Kill()
	first.Wait()
	t.Run("while the process is down", func(t *testing.T) {
		for _, h := range []struct {
			client *nettest.Client
			id     string
		}{{pod, "cip"}, {ext, "np"}} {
			if r := h.client.Do(nettest.Request{Op: "send", ID: h.id, Msg: "still?"}); r.Err != "" {
				t.Errorf("open connection %s: %+v", h.id, r)
			}
		}
		if got, _ := backends(t, pod, svcVIP+":80", 10); got["b1"]+got["b2"] != 10 {
			t.Errorf("new ClusterIP connections: %v", got)
		}
		if got, _ := backends(t, ext, nodePort, 10); got["b1"]+got["b2"] != 10 {
			t.Errorf("new NodePort connections: %v", got)
		}
	})

	startChild(t, cc)
	t.Run("after the restart", func(t *testing.T) {
		if n := connect4Programs(t, c.cgroup); n != 1 {
			t.Fatalf("%d connect4 programs on the cgroup after takeover, want 1", n)
		}
		var tcx int
		c.node1.Do(t, func() error {
			l, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			tcx = len(res.Programs)
			return nil
		})
		if tcx != 1 {
			t.Fatalf("%d TCX ingress programs on node1's eth0 after takeover, want 1", tcx)
		}
		if r := ext.Do(nettest.Request{Op: "send", ID: "np", Msg: "still?"}); r.Err != "" {
			t.Errorf("NodePort connection across the restart: %+v", r)
		}
		if got, _ := backends(t, ext, nodePort, 10); got["b1"]+got["b2"] != 10 {
			t.Errorf("new NodePort connections: %v", got)
		}
		entries, err := ListServices(cfg.PinDir)
		if err != nil || len(entries) != 2 {
			t.Fatalf("services in the pinned maps: %v %v", entries, err)
		}
		flows, err := ListConntrack(cfg.PinDir)
		if err != nil {
			t.Fatal(err)
		}
		held := false
		for _, f := range flows {
			held = held || (!f.Reply && f.Client.Addr().String() == "10.50.0.100" && !f.Closing)
		}
		if !held {
			t.Fatalf("the open NodePort connection is not in conntrack: %+v", flows)
		}
	})
	t.Run("cleanup", func(t *testing.T) {
		if err := Cleanup(CleanupConfig{PinDir: cfg.PinDir, NetNS: c.node1.Path, IPTablesBackends: []string{}}); err != nil {
			t.Fatal(err)
		}
		if n := connect4Programs(t, c.cgroup); n != 0 {
			t.Fatalf("%d connect4 programs left after cleanup", n)
		}
		if r := ext.Do(nettest.Request{Op: "tcp", Addr: nodePort, Msg: "hi"}); r.Errno != "ECONNREFUSED" {
			t.Fatalf("NodePort after cleanup: %+v, want refused by the node itself", r)
		}
		if routes := c.node1.IP(t, "route", "show", "type", "unreachable"); routes != "" {
			t.Fatalf("routes left after cleanup: %s", routes)
		}
	})
}
