package lb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"skiff.dev/skiff/dataplane/internal/nettest"
	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/dataplane/model"
)

// bpffs mounts a private bpffs for the test's pins.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return filepath.Join(dir, "skiff", "node-a")
}

// attachedConnect4 lists the program ids on the cgroup's connect4 hook.
func attachedConnect4(t *testing.T, cgroup string) []ebpf.ProgramID {
	t.Helper()
	res, err := link.QueryPrograms(link.QueryOptions{Target: mustOpen(t, cgroup), Attach: ebpf.AttachCGroupInet4Connect})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids
}

func mustOpen(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

func progID(t *testing.T, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// TestPinnedTakeover: with pins, services keep working while no process
// holds the programs; a new process takes the maps over without writing
// (nothing changed), swaps its programs into the existing links
// atomically, and Cleanup removes everything.
func TestPinnedTakeover(t *testing.T) {
	env := newSockEnv(t, 2)
	env.lb.Close() // this test runs its own LBs
	pinDir := bpffs(t)
	cookie, _ := nsutil.Cookie(env.node.Path)
	cfg := Config{PinDir: pinDir, HostNetNSCookie: cookie, Sizes: testSizes()}
	svc := testService(endpoints(1, 2))

	first, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.AttachCgroup(env.cgroup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Cleanup(pinDir) })
	mustUpsert(t, first, svc)
	c := nettest.StartClient(t, env.cgroup, env.pod)
	held := c.Do(nettest.Request{Op: "hold", ID: "h", Addr: vip + ":80", Msg: "hi"})
	if held.Err != "" {
		t.Fatal(held.Err)
	}
	first.Close()

	t.Run("services work with no process", func(t *testing.T) {
		if r := c.Do(nettest.Request{Op: "tcp", Addr: vip + ":80", Msg: "hi"}); r.Err != "" {
			t.Fatalf("new connection while stopped: %+v", r)
		}
		if r := c.Do(nettest.Request{Op: "send", ID: "h", Msg: "again"}); r.Err != "" {
			t.Fatalf("open connection while stopped: %+v", r)
		}
	})

	second, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	t.Run("the restarted process writes nothing for an unchanged cluster", func(t *testing.T) {
		if err := second.Replace(context.Background(), []model.Service{svc}); err != nil {
			t.Fatal(err)
		}
		if second.eng.writes != 0 {
			t.Fatalf("takeover resync wrote %d entries", second.eng.writes)
		}
	})
	t.Run("new programs replace the old in the same links", func(t *testing.T) {
		if err := second.AttachCgroup(env.cgroup); err != nil {
			t.Fatal(err)
		}
		ids := attachedConnect4(t, env.cgroup)
		if len(ids) != 1 || ids[0] != progID(t, second.objs.Sock4Connect) {
			t.Fatalf("connect4 programs on the cgroup: %v, want only the new one %v", ids, progID(t, second.objs.Sock4Connect))
		}
		if r := c.Do(nettest.Request{Op: "tcp", Addr: vip + ":80", Msg: "hi"}); r.Err != "" {
			t.Fatalf("after upgrade: %+v", r)
		}
	})
	t.Run("a change after takeover writes only the difference", func(t *testing.T) {
		before := second.eng.writes
		mustUpsert(t, second, testService(endpoints(1)))
		// be2 leaves three frontends (http, dns, the NodePort): per
		// frontend a backend delete, a slot delete and the count, plus the
		// NodePort's new Maglev table.
		if w := second.eng.writes - before; w != 10 {
			t.Fatalf("removing one endpoint wrote %d entries, want 10", w)
		}
		got := spread(t, c, "tcp", vip+":80", 10)
		if got["be2"] != 0 {
			t.Fatalf("removed backend reached after takeover: %v", got)
		}
	})
	t.Run("inspection and metrics", func(t *testing.T) {
		entries, err := ListServices(pinDir)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range entries {
			lines = append(lines, e.String())
		}
		want := "[10.96.0.10:53/UDP 10.96.0.10:80/TCP NodePort :30080/TCP]"
		if got := "[" + strings.Join(lines, " ") + "]"; got != want {
			t.Fatalf("frontends %s, want %s", got, want)
		}
		if be := entries[1].Backends; len(be) != 1 || be[0].Addr.String() != "10.200.1.2:8080" || be[0].State != model.Active || be[0].Slot != 1 {
			t.Fatalf("backends of %s: %+v", entries[1], be)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(second.Collector())
		n, err := testutil.GatherAndCount(reg, "skiff_dataplane_service_connections_total")
		if err != nil || n != 3 {
			t.Fatalf("connection counters: %d series, %v", n, err)
		}
	})
	t.Run("cleanup removes everything", func(t *testing.T) {
		second.Close()
		if err := Cleanup(pinDir); err != nil {
			t.Fatal(err)
		}
		if ids := attachedConnect4(t, env.cgroup); len(ids) != 0 {
			t.Fatalf("programs still attached after cleanup: %v", ids)
		}
		if _, err := os.Stat(pinDir); !os.IsNotExist(err) {
			t.Fatalf("pin directory still there: %v", err)
		}
		r := c.Do(nettest.Request{Op: "tcp", Addr: vip + ":80", Msg: "hi"})
		if r.Errno != "EHOSTUNREACH" && r.Errno != "ENETUNREACH" {
			t.Fatalf("service address after cleanup: %+v, want unreachable", r)
		}
	})
}

// A new MaglevSize takes effect on restart: the pinned tables of the old
// size are rewritten by the first sync.
func TestPinnedMaglevResize(t *testing.T) {
	nettest.Require(t)
	pinDir := bpffs(t)
	t.Cleanup(func() { Cleanup(pinDir) })
	svc := npService(model.TCP, false, npBackend{addr: "10.244.1.2", local: true}, npBackend{addr: "10.244.1.3", local: true})
	for _, size := range []int{251, 1021} {
		l, err := Load(Config{PinDir: pinDir, MaglevSize: size, Sizes: testSizes()})
		if err != nil {
			t.Fatalf("load with Maglev size %d: %v", size, err)
		}
		if err := l.Replace(context.Background(), []model.Service{svc}); err != nil {
			t.Fatalf("sync with Maglev size %d: %v", size, err)
		}
		var id, inner uint32
		it := l.objs.Maglev.Iterate()
		if !it.Next(&id, &inner) {
			t.Fatal("no Maglev table")
		}
		m, err := ebpf.NewMapFromID(ebpf.MapID(inner))
		if err != nil {
			t.Fatal(err)
		}
		if int(m.MaxEntries()) != size {
			t.Fatalf("table of %d entries, want %d", m.MaxEntries(), size)
		}
		m.Close()
		l.Close()
	}
}
