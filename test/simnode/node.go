package simnode

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels every simulated node carries.
const (
	LabelHostname = "kubernetes.io/hostname"
	LabelZone     = "topology.kubernetes.io/zone"
)

// NodeName is the name of node i of prefix.
func NodeName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

// HostIP is the InternalIP of node i: 192.0.2.<i> (TEST-NET-1) for the
// first 256 nodes, then addresses of 198.18.0.0/15 (the benchmarking
// range); none of them is ever sent to.
func HostIP(i int) netip.Addr {
	if i < 256 {
		return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
	}
	j := i - 256
	return netip.AddrFrom4([4]byte{198, 18 + byte(j>>16&1), byte(j >> 8), byte(j)})
}

// nodeObject is node i as its kubelet registers it.
func (n *Nodes) nodeObject(i int, now time.Time) *corev1.Node {
	name := NodeName(n.cfg.Prefix, i)
	labels := map[string]string{
		LabelHostname:          name,
		LabelZone:              fmt.Sprintf("zone-%d", i%3),
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
	}
	for k, v := range n.cfg.Labels {
		labels[k] = v
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(n.cfg.CPU),
		corev1.ResourceMemory:           resource.MustParse(n.cfg.Memory),
		corev1.ResourcePods:             resource.MustParse(n.cfg.Pods),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: append([]corev1.Taint(nil), n.cfg.Taints...)},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions:  nodeConditions(metav1.NewTime(now), metav1.NewTime(now)),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: HostIP(i).String()},
				{Type: corev1.NodeHostName, Address: name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               fmt.Sprintf("%032x", i),
				SystemUUID:              fmt.Sprintf("00000000-0000-0000-0000-%012x", i),
				BootID:                  fmt.Sprintf("boot-%s", name),
				KernelVersion:           "6.18.0-sim",
				OSImage:                 "skiff simulated node",
				ContainerRuntimeVersion: RuntimeVersion,
				KubeletVersion:          KubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
		},
	}
}

// nodeConditions are a healthy node's conditions, heartbeat at beat and
// last changed at since.
func nodeConditions(beat, since metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: beat, LastTransitionTime: since, Reason: reason, Message: msg}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// patchStatus refreshes the node's conditions with a strategic merge patch
// (merged by type, so that no write of another component is lost). A
// condition that someone else changed (the node lifecycle controller
// marking it Unknown) gets a new transition time.
func (n *Nodes) patchStatus(ctx context.Context, s *simNode, now time.Time) error {
	beat := metav1.NewTime(now)
	conds := nodeConditions(beat, beat)
	if cur, err := n.agent.nodes.Get(s.name); err == nil {
		for i := range conds {
			for _, c := range cur.Status.Conditions {
				if c.Type == conds[i].Type && c.Status == conds[i].Status && !c.LastTransitionTime.IsZero() {
					conds[i].LastTransitionTime = c.LastTransitionTime
				}
			}
		}
	}
	body, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
	if err != nil {
		return fmt.Errorf("node %s status patch: %w", s.name, err)
	}
	_, err = n.cs.CoreV1().Nodes().Patch(ctx, s.name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("node %s status: %w", s.name, err)
	}
	return nil
}

// createLease creates the node's Lease, owned by the node, or renews the
// one it has.
func (n *Nodes) createLease(ctx context.Context, s *simNode) error {
	now := metav1.NowMicro()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name, Namespace: corev1.NamespaceNodeLease,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: s.name, UID: types.UID(s.uid)}},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &s.name,
			LeaseDurationSeconds: ptr(int32(leaseDurationSec)),
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
	_, err := n.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = n.renewLease(ctx, s, now.Time)
	}
	if err != nil {
		return fmt.Errorf("lease of node %s: %w", s.name, err)
	}
	return nil
}

// renewLease moves the Lease's renewTime to now.
func (n *Nodes) renewLease(ctx context.Context, s *simNode, now time.Time) error {
	t := metav1.NewMicroTime(now)
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"renewTime": t, "holderIdentity": s.name}})
	if err != nil {
		return fmt.Errorf("lease patch: %w", err)
	}
	_, err = n.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Patch(ctx, s.name, types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", s.name, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
