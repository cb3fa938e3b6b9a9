package printers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/controlplane/apis"
)

// now is the fixed clock of every test.
var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// agoPtr is ago as a pointer.
func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

// objectMeta is the metadata of a namespaced test object created 3h ago.
func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: "7", CreationTimestamp: ago(3 * time.Hour)}
}

// headers are the column names kubectl prints: upper case, only priority 0
// unless wide.
func headers(t *metav1.Table, wide bool) string {
	var names []string
	for _, c := range t.ColumnDefinitions {
		if wide || c.Priority == 0 {
			names = append(names, strings.ToUpper(c.Name))
		}
	}
	return strings.Join(names, " | ")
}

// cells prints a row's cells as kubectl does (fmt), separated by " | ".
func cells(row metav1.TableRow) string {
	s := make([]string, len(row.Cells))
	for i, c := range row.Cells {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " | ")
}

// convert is ConvertToTable with the fixed clock; it checks the invariants
// every table keeps: one cell per column, int64 cells in integer columns,
// bools only in boolean ones, and only strings otherwise.
func convert(t *testing.T, obj runtime.Object) *metav1.Table {
	t.Helper()
	table, err := ConvertToTable(obj, Options{Now: clock})
	if err != nil {
		t.Fatalf("ConvertToTable(%T): %v", obj, err)
	}
	for _, row := range table.Rows {
		if len(row.Cells) != len(table.ColumnDefinitions) {
			t.Fatalf("%T: %d cells for %d columns: %v", obj, len(row.Cells), len(table.ColumnDefinitions), row.Cells)
		}
		for i, c := range row.Cells {
			switch c.(type) {
			case int64:
			case bool:
				if table.ColumnDefinitions[i].Type != "boolean" {
					t.Errorf("%T column %s: bool cell in a %s column", obj, table.ColumnDefinitions[i].Name, table.ColumnDefinitions[i].Type)
				}
			case string:
				if table.ColumnDefinitions[i].Type == "integer" {
					t.Errorf("%T column %s: string cell %q in an integer column", obj, table.ColumnDefinitions[i].Name, c)
				}
			default:
				t.Errorf("%T column %s: cell of type %T", obj, table.ColumnDefinitions[i].Name, c)
			}
		}
	}
	return table
}

func TestColumns(t *testing.T) {
	for _, tc := range []struct {
		obj        runtime.Object
		want, wide string
	}{
		{&corev1.Pod{}, "NAME | READY | STATUS | RESTARTS | AGE",
			"NAME | READY | STATUS | RESTARTS | AGE | IP | NODE | NOMINATED NODE | READINESS GATES"},
		{&corev1.Namespace{}, "NAME | STATUS | AGE", ""},
		{&corev1.Node{}, "NAME | STATUS | ROLES | AGE | VERSION",
			"NAME | STATUS | ROLES | AGE | VERSION | INTERNAL-IP | EXTERNAL-IP | OS-IMAGE | KERNEL-VERSION | CONTAINER-RUNTIME"},
		{&corev1.Service{}, "NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE",
			"NAME | TYPE | CLUSTER-IP | EXTERNAL-IP | PORT(S) | AGE | SELECTOR"},
		{&corev1.Endpoints{}, "NAME | ENDPOINTS | AGE", ""},
		{&corev1.ConfigMap{}, "NAME | DATA | AGE", ""},
		{&corev1.Secret{}, "NAME | TYPE | DATA | AGE", ""},
		{&corev1.Event{}, "LAST SEEN | TYPE | REASON | OBJECT | MESSAGE",
			"LAST SEEN | TYPE | REASON | OBJECT | SUBOBJECT | SOURCE | MESSAGE | FIRST SEEN | COUNT | NAME"},
		{&eventsv1.Event{}, "LAST SEEN | TYPE | REASON | OBJECT | MESSAGE",
			"LAST SEEN | TYPE | REASON | OBJECT | SUBOBJECT | SOURCE | MESSAGE | FIRST SEEN | COUNT | NAME"},
		{&corev1.ServiceAccount{}, "NAME | SECRETS | AGE", ""},
		{&corev1.ReplicationController{}, "NAME | DESIRED | CURRENT | READY | AGE",
			"NAME | DESIRED | CURRENT | READY | AGE | CONTAINERS | IMAGES | SELECTOR"},
		{&corev1.ResourceQuota{}, "NAME | REQUEST | LIMIT | AGE", ""},
		{&corev1.LimitRange{}, "NAME | CREATED AT", ""},
		{&appsv1.Deployment{}, "NAME | READY | UP-TO-DATE | AVAILABLE | AGE",
			"NAME | READY | UP-TO-DATE | AVAILABLE | AGE | CONTAINERS | IMAGES | SELECTOR"},
		{&appsv1.ReplicaSet{}, "NAME | DESIRED | CURRENT | READY | AGE",
			"NAME | DESIRED | CURRENT | READY | AGE | CONTAINERS | IMAGES | SELECTOR"},
		{&appsv1.StatefulSet{}, "NAME | READY | AGE", "NAME | READY | AGE | CONTAINERS | IMAGES"},
		{&appsv1.DaemonSet{}, "NAME | DESIRED | CURRENT | READY | UP-TO-DATE | AVAILABLE | NODE SELECTOR | AGE",
			"NAME | DESIRED | CURRENT | READY | UP-TO-DATE | AVAILABLE | NODE SELECTOR | AGE | CONTAINERS | IMAGES | SELECTOR"},
		{&appsv1.ControllerRevision{}, "NAME | CONTROLLER | REVISION | AGE", ""},
		{&batchv1.Job{}, "NAME | STATUS | COMPLETIONS | DURATION | AGE",
			"NAME | STATUS | COMPLETIONS | DURATION | AGE | CONTAINERS | IMAGES | SELECTOR"},
		{&autoscalingv2.HorizontalPodAutoscaler{}, "NAME | REFERENCE | TARGETS | MINPODS | MAXPODS | REPLICAS | AGE", ""},
		{&policyv1.PodDisruptionBudget{}, "NAME | MIN AVAILABLE | MAX UNAVAILABLE | ALLOWED DISRUPTIONS | AGE", ""},
		{&discoveryv1.EndpointSlice{}, "NAME | ADDRESSTYPE | PORTS | ENDPOINTS | AGE", ""},
		{&coordinationv1.Lease{}, "NAME | HOLDER | AGE", ""},
		{&schedulingv1.PriorityClass{}, "NAME | VALUE | GLOBAL-DEFAULT | AGE | PREEMPTIONPOLICY", ""},
	} {
		t.Run(fmt.Sprintf("%T", tc.obj), func(t *testing.T) {
			table := convert(t, tc.obj)
			if got := headers(table, false); got != tc.want {
				t.Errorf("columns:\n got %s\nwant %s", got, tc.want)
			}
			wide := tc.wide
			if wide == "" {
				wide = tc.want
			}
			if got := headers(table, true); got != wide {
				t.Errorf("wide columns:\n got %s\nwant %s", got, wide)
			}
			for _, c := range table.ColumnDefinitions {
				if c.Description == "" {
					t.Errorf("column %s has no description", c.Name)
				}
			}

			// The kind's list, even empty, has the same columns.
			gvks, _, err := apis.Scheme.ObjectKinds(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			list, err := apis.Scheme.New(gvks[0].GroupVersion().WithKind(gvks[0].Kind + "List"))
			if err != nil {
				t.Fatal(err)
			}
			if got := headers(convert(t, list), true); got != wide {
				t.Errorf("%T columns:\n got %s\nwant %s", list, got, wide)
			}
		})
	}
}

// TestColumnDefinitions checks whole definitions (type, format,
// description) of the pod columns against Kubernetes'.
func TestColumnDefinitions(t *testing.T) {
	got := convert(t, &corev1.Pod{}).ColumnDefinitions
	meta := metav1.ObjectMeta{}.SwaggerDoc()
	want := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: meta["name"]},
		{Name: "Ready", Type: "string", Description: "The aggregate readiness state of this pod for accepting traffic."},
		{Name: "Status", Type: "string", Description: "The aggregate status of the containers in this pod."},
		{Name: "Restarts", Type: "string", Description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."},
		{Name: "Age", Type: "string", Description: meta["creationTimestamp"]},
		{Name: "IP", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["podIP"]},
		{Name: "Node", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["nodeName"]},
		{Name: "Nominated Node", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]},
		{Name: "Readiness Gates", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["readinessGates"]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pod columns (-want +got):\n%s", diff)
	}
	def := convert(t, &corev1.LimitRange{}).ColumnDefinitions
	wantDef := []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: meta["name"]},
		{Name: "Created At", Type: "date", Description: meta["creationTimestamp"]},
	}
	if diff := cmp.Diff(wantDef, def); diff != "" {
		t.Errorf("default columns (-want +got):\n%s", diff)
	}
}

type cellCase struct {
	name string
	obj  runtime.Object
	want string // all cells, wide ones included, joined by " | "
}

func runCellCases(t *testing.T, cases []cellCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := convert(t, tc.obj)
			if len(table.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(table.Rows))
			}
			if got := cells(table.Rows[0]); got != tc.want {
				t.Errorf("cells:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func running(ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(reason string, restarts int32, lastExit time.Duration) corev1.ContainerStatus {
	s := corev1.ContainerStatus{RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	if lastExit > 0 {
		s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(lastExit)}
	}
	return s
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}}
}

// pod builds a pod with the given containers and init containers (names
// "c0", "c1"... and "i0", "i1"...).
func pod(phase corev1.PodPhase, containers []corev1.ContainerStatus, initContainers ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: objectMeta("web-1"), Status: corev1.PodStatus{Phase: phase}}
	for i, s := range containers {
		s.Name = fmt.Sprintf("c%d", i)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: s.Name})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s)
	}
	for i, s := range initContainers {
		s.Name = fmt.Sprintf("i%d", i)
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: s.Name})
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, s)
	}
	return p
}

// with applies f to p and returns it.
func with(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	f(p)
	return p
}

func TestPodCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	runCellCases(t, []cellCase{
		{"running, one of two ready", pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0), running(false, 0)}),
			"web-1 | 1/2 | Running | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"wide cells", with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}), func(p *corev1.Pod) {
			p.Spec.NodeName = "node-a"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
			p.Status.NominatedNodeName = "node-b"
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}, {Type: "example.com/dns", Status: corev1.ConditionFalse}}
		}), "web-1 | 1/1 | Running | 0 | 3h | 10.244.0.5 | node-a | node-b | 1/2"},
		{"CrashLoopBackOff with restarts", pod(corev1.PodRunning, []corev1.ContainerStatus{waiting("CrashLoopBackOff", 5, 5*time.Minute)}),
			"web-1 | 0/1 | CrashLoopBackOff | 5 (5m ago) | 3h | <none> | <none> | <none> | <none>"},
		{"restarts without a last termination", pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 2)}),
			"web-1 | 1/1 | Running | 2 | 3h | <none> | <none> | <none> | <none>"},
		{"pending, nothing scheduled", pod(corev1.PodPending, nil),
			"web-1 | 0/0 | Pending | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"image pull error", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("ErrImagePull", 0, 0)}),
			"web-1 | 0/1 | ErrImagePull | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"terminating", with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}), func(p *corev1.Pod) {
			p.DeletionTimestamp = agoPtr(time.Second)
		}), "web-1 | 1/1 | Terminating | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"deleted on a lost node", with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}), func(p *corev1.Pod) {
			p.DeletionTimestamp = agoPtr(time.Second)
			p.Status.Reason = "NodeLost"
		}), "web-1 | 1/1 | Unknown | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"succeeded pod being deleted stays Completed", with(pod(corev1.PodSucceeded, []corev1.ContainerStatus{terminated("Completed", 0, 0)}), func(p *corev1.Pod) {
			p.DeletionTimestamp = agoPtr(time.Second)
		}), "web-1 | 0/1 | Completed | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"completed", pod(corev1.PodSucceeded, []corev1.ContainerStatus{terminated("Completed", 0, 0)}),
			"web-1 | 0/1 | Completed | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"terminated without reason: exit code", pod(corev1.PodFailed, []corev1.ContainerStatus{terminated("", 2, 0)}),
			"web-1 | 0/1 | ExitCode:2 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"terminated without reason: signal", pod(corev1.PodFailed, []corev1.ContainerStatus{terminated("", 137, 9)}),
			"web-1 | 0/1 | Signal:9 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"evicted", with(pod(corev1.PodFailed, nil), func(p *corev1.Pod) { p.Status.Reason = "Evicted" }),
			"web-1 | 0/0 | Evicted | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"one completed, one running and ready", with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0), terminated("Completed", 0, 0)}), func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}), "web-1 | 1/2 | Running | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"one completed, one running, pod not ready", pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0), terminated("Completed", 0, 0)}),
			"web-1 | 1/2 | NotReady | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"scheduling gated", with(pod(corev1.PodPending, nil), func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
		}), "web-1 | 0/0 | SchedulingGated | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"init 1 of 2 running", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)},
			terminated("Completed", 0, 0), running(false, 0)),
			"web-1 | 0/1 | Init:1/2 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"init 0 of 2, waiting to start", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)},
			waiting("PodInitializing", 0, 0), waiting("PodInitializing", 0, 0)),
			"web-1 | 0/1 | Init:0/2 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"init crash loop counts init restarts", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)},
			waiting("CrashLoopBackOff", 3, 2*time.Minute)),
			"web-1 | 0/1 | Init:CrashLoopBackOff | 3 (2m ago) | 3h | <none> | <none> | <none> | <none>"},
		{"init failed with reason", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)}, terminated("Error", 1, 0)),
			"web-1 | 0/1 | Init:Error | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"init failed without reason", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)}, terminated("", 3, 0)),
			"web-1 | 0/1 | Init:ExitCode:3 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"init killed by a signal", pod(corev1.PodPending, []corev1.ContainerStatus{waiting("PodInitializing", 0, 0)}, terminated("", 137, 9)),
			"web-1 | 0/1 | Init:Signal:9 | 0 | 3h | <none> | <none> | <none> | <none>"},
		{"running sidecar counts as a container", with(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 1)},
			corev1.ContainerStatus{Ready: true, Started: ptr.To(true), RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(10 * time.Minute)}}}), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = &always
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
		}), "web-1 | 2/2 | Running | 3 (10m ago) | 3h | <none> | <none> | <none> | <none>"},
		{"unset creation time", with(pod(corev1.PodRunning, nil), func(p *corev1.Pod) { p.CreationTimestamp = metav1.Time{} }),
			"web-1 | 0/0 | Running | 0 | <unknown> | <none> | <none> | <none> | <none>"},
		{"podIP wins over podIPs", with(pod(corev1.PodRunning, nil), func(p *corev1.Pod) {
			p.Status.PodIP = "10.0.0.9"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.8"}}
		}), "web-1 | 0/0 | Running | 0 | 3h | 10.0.0.9 | <none> | <none> | <none>"},
	})
}

func TestPodRowConditions(t *testing.T) {
	for phase, reason := range map[corev1.PodPhase]string{corev1.PodSucceeded: "Succeeded", corev1.PodFailed: "Failed", corev1.PodRunning: ""} {
		table := convert(t, pod(phase, nil))
		conds := table.Rows[0].Conditions
		if reason == "" {
			if len(conds) != 0 {
				t.Errorf("%s pod: conditions %v, want none", phase, conds)
			}
			continue
		}
		if len(conds) != 1 || conds[0].Type != metav1.RowCompleted || conds[0].Status != metav1.ConditionTrue || conds[0].Reason != reason {
			t.Errorf("%s pod: conditions %+v, want Completed=True reason %s", phase, conds, reason)
		}
	}
}

func TestCoreCells(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	runCellCases(t, []cellCase{
		{"namespace", &corev1.Namespace{ObjectMeta: objectMeta("team-a"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			"team-a | Terminating | 3h"},
		{"node ready", &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", CreationTimestamp: ago(50 * time.Hour), Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node-a"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.18.0", ContainerRuntimeVersion: "containerd://1.6.20"},
			}}, "node-a | Ready | control-plane | 2d2h | v1.37.2 | 192.168.1.10 | <none> | Debian GNU/Linux 12 (bookworm) | 6.18.0 | containerd://1.6.20"},
		{"node NotReady,SchedulingDisabled", &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-b", CreationTimestamp: ago(10 * 24 * time.Hour), Labels: map[string]string{
				"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/infra": "", "kubernetes.io/role": "edge", "node-role.kubernetes.io/": ""}},
			Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.7"}},
			}}, "node-b | NotReady,SchedulingDisabled | edge,infra,worker | 10d |  | <none> | 203.0.113.7 | <unknown> | <unknown> | <unknown>"},
		{"node without Ready condition", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c", CreationTimestamp: ago(90 * time.Second)}},
			"node-c | Unknown | <none> | 90s |  | <none> | <none> | <unknown> | <unknown> | <unknown>"},
		{"service ClusterIP", &corev1.Service{ObjectMeta: objectMeta("web"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: tcp}}, Selector: map[string]string{"app": "web", "tier": "front"}}},
			"web | ClusterIP | 10.96.0.10 | <none> | 80/TCP | 3h | app=web,tier=front"},
		{"service NodePort with several ports", &corev1.Service{ObjectMeta: objectMeta("dns"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.0.53", "fd00::53"}, ExternalIPs: []string{"198.51.100.1", "198.51.100.2"},
			Ports: []corev1.ServicePort{{Port: 53, NodePort: 30053, Protocol: udp}, {Port: 53, NodePort: 30054, Protocol: tcp}, {Port: 9153, Protocol: tcp}}}},
			"dns | NodePort | 10.96.0.53 | 198.51.100.1,198.51.100.2 | 53:30053/UDP,53:30054/TCP,9153/TCP | 3h | <none>"},
		{"service LoadBalancer pending", &corev1.Service{ObjectMeta: objectMeta("lb"), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.1.1"}, Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: tcp}}}},
			"lb | LoadBalancer | 10.96.1.1 | <pending> | 443:31443/TCP | 3h | <none>"},
		{"service LoadBalancer with ingress and external IPs", &corev1.Service{ObjectMeta: objectMeta("lb"),
			Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.1.1"}, ExternalIPs: []string{"198.51.100.9"}, Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: tcp}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.20"}, {Hostname: "a-very-long-load-balancer.example.com"}, {IP: "203.0.113.20"}}}}},
			"lb | LoadBalancer | 10.96.1.1 | 203.0.113.20,a-very-long-load-balancer.example.com,198.51.100.9 | 443:31443/TCP | 3h | <none>"},
		{"service headless without ports", &corev1.Service{ObjectMeta: objectMeta("db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}}},
			"db | ClusterIP | None | <none> | <none> | 3h | <none>"},
		{"service ExternalName", &corev1.Service{ObjectMeta: objectMeta("ext"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			"ext | ExternalName | <none> | example.com | <none> | 3h | <none>"},
		{"endpoints, more than three", &corev1.Endpoints{ObjectMeta: objectMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}, {IP: "fd00::6"}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}}}},
			"web | 10.244.0.5:80,[fd00::6]:80,10.244.0.5:443 + 1 more... | 3h"},
		{"endpoints without ports", &corev1.Endpoints{ObjectMeta: objectMeta("db"), Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.7"}}}}},
			"db | 10.244.0.7 | 3h"},
		{"endpoints empty", &corev1.Endpoints{ObjectMeta: objectMeta("none")}, "none | <none> | 3h"},
		{"configmap", &corev1.ConfigMap{ObjectMeta: objectMeta("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {3}}},
			"cfg | 3 | 3h"},
		{"secret", &corev1.Secret{ObjectMeta: objectMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			"tls | kubernetes.io/tls | 2 | 3h"},
		{"service account", &corev1.ServiceAccount{ObjectMeta: objectMeta("default"), Secrets: []corev1.ObjectReference{{Name: "tok"}}},
			"default | 1 | 3h"},
		{"replication controller", &corev1.ReplicationController{ObjectMeta: objectMeta("rc"),
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: map[string]string{"app": "rc"},
				Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
			Status: corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2}},
			"rc | 3 | 3 | 2 | 3h | web | nginx:1.27 | app=rc"},
		{"replication controller without template", &corev1.ReplicationController{ObjectMeta: objectMeta("rc")},
			"rc | 0 | 0 | 0 | 3h |  |  | <none>"},
		{"resource quota", &corev1.ResourceQuota{ObjectMeta: objectMeta("quota"), Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("1"), "limits.memory": resource.MustParse("1Gi"), "limits.cpu": resource.MustParse("2")},
			Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m"), "limits.cpu": resource.MustParse("1")}}},
			"quota | pods: 3/10, requests.cpu: 500m/1 | limits.cpu: 1/2, limits.memory: 0/1Gi | 3h"},
		{"limit range (default table)", &corev1.LimitRange{ObjectMeta: objectMeta("limits")}, "limits | 2025-03-01T09:00:00Z"},
	})
}

func TestEventCells(t *testing.T) {
	involved := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1", FieldPath: "spec.containers{web}"}
	runCellCases(t, []cellCase{
		{"core event with count", &corev1.Event{ObjectMeta: objectMeta("web-1.17a"), InvolvedObject: involved,
			Type: corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container\n",
			Source: corev1.EventSource{Component: "kubelet", Host: "node-a"}, FirstTimestamp: ago(time.Hour), LastTimestamp: ago(2 * time.Minute), Count: 7},
			"2m | Warning | BackOff | pod/web-1 | spec.containers{web} | kubelet, node-a | Back-off restarting failed container | 60m | 7 | web-1.17a"},
		{"new-API singleton event", &corev1.Event{ObjectMeta: objectMeta("web.1"), InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Type: corev1.EventTypeNormal, Reason: "ScalingReplicaSet", Message: "Scaled up", EventTime: metav1.NewMicroTime(now.Add(-30 * time.Second)),
			ReportingController: "deployment-controller"},
			"30s | Normal | ScalingReplicaSet | deployment/web |  | deployment-controller | Scaled up | 30s | 1 | web.1"},
		{"event without object name", &corev1.Event{ObjectMeta: objectMeta("node.1"), InvolvedObject: corev1.ObjectReference{Kind: "Node"},
			Type: corev1.EventTypeNormal, Reason: "Starting", ReportingController: "kubelet", ReportingInstance: "node-a"},
			"<unknown> | Normal | Starting | node |  | kubelet, node-a |  | <unknown> | 1 | node.1"},
		{"events.k8s.io event with series", &eventsv1.Event{ObjectMeta: objectMeta("web-1.18b"), Regarding: involved,
			Type: corev1.EventTypeWarning, Reason: "Unhealthy", Note: "Readiness probe failed", EventTime: metav1.NewMicroTime(now.Add(-20 * time.Minute)),
			Series:              &eventsv1.EventSeries{Count: 12, LastObservedTime: metav1.NewMicroTime(now.Add(-15 * time.Second))},
			ReportingController: "kubelet", ReportingInstance: "node-a"},
			"15s | Warning | Unhealthy | pod/web-1 | spec.containers{web} | kubelet, node-a | Readiness probe failed | 20m | 12 | web-1.18b"},
	})
}

func TestAppsCells(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}, {Name: "log", Image: "busybox"}}}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	runCellCases(t, []cellCase{
		{"deployment", &appsv1.Deployment{ObjectMeta: objectMeta("web"),
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: selector, Template: template},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			"web | 2/3 | 3 | 2 | 3h | web,log | nginx:1.27,busybox | app=web"},
		{"deployment with set-based selector", &appsv1.Deployment{ObjectMeta: objectMeta("api"),
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}}},
			"api | 0/0 | 0 | 0 | 3h |  |  | tier in (a,b)"},
		{"replica set", &appsv1.ReplicaSet{ObjectMeta: objectMeta("web-5d4f"),
			Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: selector, Template: template},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			"web-5d4f | 3 | 3 | 1 | 3h | web,log | nginx:1.27,busybox | app=web"},
		{"stateful set", &appsv1.StatefulSet{ObjectMeta: objectMeta("db"),
			Spec:   appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Template: template},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}},
			"db | 3/3 | 3h | web,log | nginx:1.27,busybox"},
		{"daemon set", &appsv1.DaemonSet{ObjectMeta: objectMeta("agent"),
			Spec: appsv1.DaemonSetSpec{Selector: selector, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Containers: []corev1.Container{{Name: "agent", Image: "skiff/agent:dev"}}}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, CurrentNumberScheduled: 4, NumberReady: 3, UpdatedNumberScheduled: 2, NumberAvailable: 3}},
			"agent | 4 | 4 | 3 | 2 | 3 | kubernetes.io/os=linux | 3h | agent | skiff/agent:dev | app=web"},
		{"controller revision of a stateful set", &appsv1.ControllerRevision{Revision: 3, ObjectMeta: func() metav1.ObjectMeta {
			m := objectMeta("db-7c9")
			m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr.To(true)}}
			return m
		}()}, "db-7c9 | statefulset.apps/db | 3 | 3h"},
		{"controller revision of a core kind", &appsv1.ControllerRevision{Revision: 1, ObjectMeta: func() metav1.ObjectMeta {
			m := objectMeta("x-1")
			m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "x", Controller: ptr.To(true)}}
			return m
		}()}, "x-1 | pod/x | 1 | 3h"},
		{"controller revision without controller", &appsv1.ControllerRevision{ObjectMeta: objectMeta("orphan"), Revision: 1},
			"orphan | <none> | 1 | 3h"},
	})
}

func TestControllerRevisionBadOwner(t *testing.T) {
	m := objectMeta("bad")
	m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "a/b/c", Kind: "X", Name: "x", Controller: ptr.To(true)}}
	if _, err := ConvertToTable(&appsv1.ControllerRevision{ObjectMeta: m}, Options{Now: clock}); err == nil {
		t.Fatal("ConvertToTable with an unparsable owner apiVersion: no error")
	}
}

func TestBatchAndOtherCells(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pi", Image: "perl:5.34"}}}}
	jobSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "abc"}}
	job := func(name string, f func(*batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: objectMeta(name), Spec: batchv1.JobSpec{Selector: jobSelector, Template: template}}
		f(j)
		return j
	}
	cond := func(t batchv1.JobConditionType) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
	}
	runCellCases(t, []cellCase{
		{"completed job", job("pi", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To[int32](1)
			j.Status = batchv1.JobStatus{Succeeded: 1, StartTime: agoPtr(2 * time.Hour), CompletionTime: agoPtr(2*time.Hour - 45*time.Second), Conditions: cond(batchv1.JobComplete)}
		}), "pi | Complete | 1/1 | 45s | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"running parallel job", job("work", func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To[int32](3)
			j.Status = batchv1.JobStatus{Succeeded: 0, Active: 3, StartTime: agoPtr(7 * time.Minute)}
		}), "work | Running | 0/1 of 3 | 7m | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"failed job", job("bad", func(j *batchv1.Job) {
			j.Spec.Completions = ptr.To[int32](5)
			j.Status = batchv1.JobStatus{Succeeded: 2, Failed: 7, StartTime: agoPtr(time.Hour), Conditions: append(cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)...)}
		}), "bad | Failed | 2/5 | 60m | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"terminating job", job("gone", func(j *batchv1.Job) { j.DeletionTimestamp = agoPtr(time.Second) }),
			"gone | Terminating | 0/1 |  | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"suspended job", job("wait", func(j *batchv1.Job) { j.Status.Conditions = cond(batchv1.JobSuspended) }),
			"wait | Suspended | 0/1 |  | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"job failing", job("dying", func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionFalse}, {Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}
		}), "dying | FailureTarget | 0/1 |  | 3h | pi | perl:5.34 | batch.kubernetes.io/controller-uid=abc"},
		{"hpa with utilization", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objectMeta("web"),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}}},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](55)}}}}}},
			"web | Deployment/web | cpu: 55%/80% | 2 | 10 | 3 | 3h"},
		{"hpa with three metrics, none measured yet", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objectMeta("api"),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "api"}, MaxReplicas: 4,
				Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{AverageValue: ptr.To(resource.MustParse("100Mi"))}}},
					{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: ptr.To(resource.MustParse("1k"))}}},
					{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{Target: autoscalingv2.MetricTarget{Value: ptr.To(resource.MustParse("30"))}}},
				}}},
			"api | StatefulSet/api | memory: <unknown>/100Mi, <unknown>/1k + 1 more... | <unset> | 4 | 0 | 3h"},
		{"hpa without metrics", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objectMeta("idle"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "idle"}, MinReplicas: ptr.To[int32](1), MaxReplicas: 2,
			Metrics: nil}}, "idle | Deployment/idle | <none> | 1 | 2 | 0 | 3h"},
		{"pdb min available", &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("web"), Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(2))},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}, "web | 2 | N/A | 1 | 3h"},
		{"pdb max unavailable", &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("db"), Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			"db | N/A | 25% | 0 | 3h"},
		{"endpoint slice", &discoveryv1.EndpointSlice{ObjectMeta: objectMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
			Ports:     []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80)}, {Name: ptr.To("named")}, {}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}}, {Addresses: []string{"10.244.0.6", "10.244.0.7"}}, {Addresses: []string{"10.244.0.8"}}}},
			"web-abc | IPv4 | 80,named,* | 10.244.0.5,10.244.0.6,10.244.0.7 + 1 more... | 3h"},
		{"endpoint slice with many ports", &discoveryv1.EndpointSlice{ObjectMeta: objectMeta("many"), AddressType: discoveryv1.AddressTypeIPv6,
			Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](1)}, {Port: ptr.To[int32](2)}, {Port: ptr.To[int32](3)}, {Port: ptr.To[int32](4)}, {Port: ptr.To[int32](5)}}},
			"many | IPv6 | 1,2,3 + 2 more... | <unset> | 3h"},
		{"lease", &coordinationv1.Lease{ObjectMeta: objectMeta("kube-scheduler"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a_1234")}},
			"kube-scheduler | node-a_1234 | 3h"},
		{"lease without holder", &coordinationv1.Lease{ObjectMeta: objectMeta("free")}, "free |  | 3h"},
		{"priority class", &schedulingv1.PriorityClass{ObjectMeta: objectMeta("high"), Value: 1000, GlobalDefault: true, PreemptionPolicy: ptr.To(corev1.PreemptNever)},
			"high | 1000 | true | 3h | Never"},
		{"priority class without policy", &schedulingv1.PriorityClass{ObjectMeta: objectMeta("low"), Value: -5}, "low | -5 | false | 3h | <none>"},
	})
}

func TestAgeFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-10 * time.Second:                 "<invalid>",
		0:                                 "0s",
		119 * time.Second:                 "119s",
		5*time.Minute + 7*time.Second:     "5m7s",
		3*time.Hour + 59*time.Minute:      "3h59m",
		30 * time.Hour:                    "30h",
		3*24*time.Hour + 5*time.Hour:      "3d5h",
		400 * 24 * time.Hour:              "400d",
		3*365*24*time.Hour + 24*time.Hour: "3y1d",
	} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(d)}}
		if got := convert(t, ns).Rows[0].Cells[2]; got != want {
			t.Errorf("age of %v: %q, want %q", d, got, want)
		}
	}
}

func TestList(t *testing.T) {
	remaining := int64(5)
	list := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "token", RemainingItemCount: &remaining},
		Items: []corev1.Pod{
			*pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}),
			*with(pod(corev1.PodPending, nil), func(p *corev1.Pod) { p.Name = "web-2" }),
		},
	}
	table := convert(t, list)
	if table.ResourceVersion != "42" || table.Continue != "token" || table.RemainingItemCount == nil || *table.RemainingItemCount != 5 {
		t.Errorf("list meta %+v, want resourceVersion 42, continue token, remaining 5", table.ListMeta)
	}
	if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "web-1" || table.Rows[1].Cells[0] != "web-2" {
		t.Fatalf("rows %v, want web-1 and web-2", table.Rows)
	}
	if got := headers(table, false); got != "NAME | READY | STATUS | RESTARTS | AGE" {
		t.Errorf("list columns %s", got)
	}

	empty := convert(t, &appsv1.DeploymentList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}})
	if len(empty.Rows) != 0 || empty.Rows == nil {
		t.Errorf("empty list rows %#v, want empty and non-nil", empty.Rows)
	}
	if got := headers(empty, false); got != "NAME | READY | UP-TO-DATE | AVAILABLE | AGE" {
		t.Errorf("empty deployment list columns %s", got)
	}
	if empty.ResourceVersion != "9" {
		t.Errorf("empty list resourceVersion %q, want 9", empty.ResourceVersion)
	}

	lr := convert(t, &corev1.LimitRangeList{Items: []corev1.LimitRange{{ObjectMeta: objectMeta("a")}, {ObjectMeta: objectMeta("b")}}})
	if len(lr.Rows) != 2 || cells(lr.Rows[1]) != "b | 2025-03-01T09:00:00Z" {
		t.Errorf("limit range list rows %v", lr.Rows)
	}

	single := convert(t, pod(corev1.PodRunning, nil))
	if single.ResourceVersion != "7" {
		t.Errorf("single object table resourceVersion %q, want the object's 7", single.ResourceVersion)
	}
}

func TestIncludeObject(t *testing.T) {
	p := pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)})
	p.Labels = map[string]string{"app": "web"}

	for _, policy := range []metav1.IncludeObjectPolicy{"", metav1.IncludeMetadata} {
		table, err := ConvertToTable(p, Options{IncludeObject: policy, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		partial, ok := table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
		if !ok {
			t.Fatalf("policy %q: row object %T, want *PartialObjectMetadata", policy, table.Rows[0].Object.Object)
		}
		if partial.APIVersion != "meta.k8s.io/v1" || partial.Kind != "PartialObjectMetadata" {
			t.Errorf("policy %q: partial object type %s/%s", policy, partial.APIVersion, partial.Kind)
		}
		if partial.Name != "web-1" || partial.Namespace != "default" || !partial.CreationTimestamp.Equal(&p.CreationTimestamp) || partial.Labels["app"] != "web" {
			t.Errorf("policy %q: partial metadata %+v", policy, partial.ObjectMeta)
		}
	}

	table, err := ConvertToTable(p, Options{IncludeObject: metav1.IncludeObject, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	full, ok := table.Rows[0].Object.Object.(*corev1.Pod)
	if !ok {
		t.Fatalf("IncludeObject: row object %T, want *corev1.Pod", table.Rows[0].Object.Object)
	}
	if full.APIVersion != "v1" || full.Kind != "Pod" || full.Name != "web-1" || len(full.Status.ContainerStatuses) != 1 {
		t.Errorf("IncludeObject: row object %s/%s %s", full.APIVersion, full.Kind, full.Name)
	}
	if p.Kind != "" {
		t.Error("IncludeObject set the kind of the caller's object")
	}
	full.Name = "changed"
	if p.Name != "web-1" {
		t.Error("IncludeObject row object aliases the caller's object")
	}

	ev, err := ConvertToTable(&eventsv1.Event{ObjectMeta: objectMeta("e")}, Options{IncludeObject: metav1.IncludeObject, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if gvk := ev.Rows[0].Object.Object.GetObjectKind().GroupVersionKind(); gvk.String() != "events.k8s.io/v1, Kind=Event" {
		t.Errorf("events.k8s.io event row object kind %s", gvk)
	}

	table, err = ConvertToTable(p, Options{IncludeObject: metav1.IncludeNone, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if table.Rows[0].Object.Object != nil || table.Rows[0].Object.Raw != nil {
		t.Errorf("IncludeNone: row object %v", table.Rows[0].Object)
	}

	if _, err := ConvertToTable(p, Options{IncludeObject: "Everything"}); !errors.Is(err, ErrInvalidIncludeObject) {
		t.Errorf("invalid includeObject: error %v, want ErrInvalidIncludeObject", err)
	}
}

func TestNoHeaders(t *testing.T) {
	table, err := ConvertToTable(pod(corev1.PodRunning, nil), Options{NoHeaders: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if table.ColumnDefinitions != nil {
		t.Errorf("NoHeaders: columns %v", table.ColumnDefinitions)
	}
	if len(table.Rows) != 1 || len(table.Rows[0].Cells) != 9 {
		t.Errorf("NoHeaders: rows %v, want one row of 9 cells", table.Rows)
	}
}

func TestColumnsNotShared(t *testing.T) {
	a := convert(t, &corev1.Pod{})
	a.ColumnDefinitions[0].Name = "changed"
	if b := convert(t, &corev1.Pod{}); b.ColumnDefinitions[0].Name != "Name" {
		t.Error("a caller changing a table's columns changed the next table's")
	}
}

func TestObjectWithoutMetadata(t *testing.T) {
	if _, err := ConvertToTable(&metav1.Status{Status: metav1.StatusFailure}, Options{}); !errors.Is(err, ErrNoObjectMeta) {
		t.Errorf("Status: error %v, want ErrNoObjectMeta", err)
	}
}

func TestDefaultClock(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: metav1.NewTime(time.Now().Add(-10 * time.Minute))}}
	table, err := ConvertToTable(ns, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := table.Rows[0].Cells[2]; got != "10m" {
		t.Errorf("age with the default clock %q, want 10m", got)
	}
}

func TestWatchConverter(t *testing.T) {
	w := NewWatchConverter(Options{Now: clock})
	first, err := w.Convert(pod(corev1.PodPending, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := headers(first.(*metav1.Table), false); got != "NAME | READY | STATUS | RESTARTS | AGE" {
		t.Errorf("first event columns %q", got)
	}
	status := &metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonExpired}
	if got, err := w.Convert(status); err != nil || got != status {
		t.Errorf("ERROR event object converted to %v, %v; want it unchanged", got, err)
	}
	second, err := w.Convert(pod(corev1.PodRunning, []corev1.ContainerStatus{running(true, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	table := second.(*metav1.Table)
	if table.ColumnDefinitions != nil {
		t.Errorf("later event has columns %v", table.ColumnDefinitions)
	}
	if got := cells(table.Rows[0]); got != "web-1 | 1/1 | Running | 0 | 3h | <none> | <none> | <none> | <none>" {
		t.Errorf("later event row %s", got)
	}
	if _, err := NewWatchConverter(Options{IncludeObject: "bad"}).Convert(pod(corev1.PodRunning, nil)); err == nil {
		t.Error("Convert with an invalid includeObject: no error")
	}
}
