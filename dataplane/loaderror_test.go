package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/dataplane/internal/nettest"
)

// breakConnect4 makes the verifier reject the connect4 program: it
// returns a register that was never written.
func breakConnect4(spec *ebpf.CollectionSpec) error {
	spec.Programs["sock4_connect"].Instructions = asm.Instructions{
		asm.Mov.Reg(asm.R0, asm.R2),
		asm.Return(),
	}
	return nil
}

// When the verifier rejects the programs, the node says why where an
// operator looks: the verifier's log in the dataplane's log, the
// skiff_dataplane_load_errors_total metric, and a Warning event on the
// Node (kubectl describe node). In auto mode the dataplane then runs in
// iptables mode; in eBPF mode New fails with the verifier's error.
func TestVerifierRejectionIsReported(t *testing.T) {
	nettest.Require(t)
	node := nettest.NewNS(t, "ve")
	peer := nettest.NewNS(t, "vep")
	nettest.Link(t, node, "eth0", "10.50.0.11/24", peer, "eth0", "10.50.0.1/24")
	a := startAPI(t)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.CoreV1().Events("")})
	t.Cleanup(broadcaster.Shutdown)
	var logs strings.Builder
	cfg := Config{
		NodeName:        "node1",
		CgroupRoot:      nettest.Cgroup(t),
		Unpinned:        true,
		NetNS:           node.Path,
		NodePortDevices: []string{"eth0"},
		ServiceCIDRs:    []netip.Prefix{netip.MustParsePrefix(serviceCIDR)},
		IPTablesBackend: "nft",
		Recorder:        broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "skiff-dataplane", Host: "node1"}),
		Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
		editSpec:        breakConnect4,
	}
	t.Cleanup(func() { Cleanup(CleanupConfig{NetNS: node.Path}) })

	t.Run("eBPF mode fails", func(t *testing.T) {
		cfg := cfg
		cfg.Mode = ModeEBPF
		_, err := New(cfg)
		var ve *ebpf.VerifierError
		if !errors.As(err, &ve) {
			t.Fatalf("New: %v, want the verifier's error", err)
		}
	})
	dp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if dp.Mode() != ModeIPTables {
		t.Fatalf("mode %s, want the iptables fallback", dp.Mode())
	}
	if !strings.Contains(logs.String(), "BPF verifier rejected the dataplane programs") || !strings.Contains(logs.String(), "R2 !read_ok") {
		t.Fatalf("the verifier's log is not in the dataplane's log:\n%s", logs.String())
	}
	families := gather(t, dp)
	count := 0.0
	for _, m := range families["skiff_dataplane_load_errors_total"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "verifier" {
			count = m.GetCounter().GetValue()
		}
	}
	if count != 1 {
		t.Fatalf("skiff_dataplane_load_errors_total{reason=verifier} = %v, want 1 (this dataplane's load)", count)
	}
	sel := fields.Set{"involvedObject.kind": "Node", "involvedObject.name": "node1"}.AsSelector().String()
	var events []corev1.Event
	eventually(t, "the Node event", func() bool {
		list, err := a.CoreV1().Events("").List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		events = list.Items
		return len(events) > 0
	})
	if e := events[0]; e.Type != corev1.EventTypeWarning || e.Reason != "DataplaneLoadFailed" || !strings.Contains(e.Message, "verifier") {
		t.Fatalf("event %s %s %q", e.Type, e.Reason, e.Message)
	}
}
