package kubectl

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/test/simnode"
)

// The tests here need pods that run: an in-process cluster with the real
// scheduler and a simulated node (test/simnode), whose agent turns bound
// pods Running and Ready and finishes their graceful deletion.

const (
	podManifest        = "testdata/simple-pod.yaml"
	replicaSetManifest = "testdata/frontend.yaml"
	node               = "worker-0"
)

// startCluster starts a server, the scheduler and one simulated node,
// worker-0.
func startCluster(t *testing.T, nodes simnode.Config) (*simnode.Cluster, *kubectl) {
	t.Helper()
	nodes.Count, nodes.Prefix = 1, "worker"
	c := simnode.StartCluster(t, simnode.ClusterConfig{Nodes: nodes})
	return c, newKubectl(t, c.Server)
}

// createReplicaSetPods creates the pods the ReplicaSet controller would
// make for rs (skiff has none yet): from its template, controlled by it.
func createReplicaSetPods(t *testing.T, cs kubernetes.Interface, rs *appsv1.ReplicaSet) {
	t.Helper()
	for range *rs.Spec.Replicas {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: rs.Name + "-", Namespace: rs.Namespace, Labels: rs.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
			},
			Spec: rs.Spec.Template.Spec,
		}
		if _, err := cs.CoreV1().Pods(rs.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create a pod of %s: %v", rs.Name, err)
		}
	}
}

// applyReplicaSet applies the documentation's ReplicaSet, creates its pods
// and waits until they run.
func applyReplicaSet(t *testing.T, c *simnode.Cluster, k *kubectl) []string {
	t.Helper()
	k.want(0, "replicaset.apps/frontend created\n", "", "apply", "-f", replicaSetManifest)
	rs, err := c.Client.AppsV1().ReplicaSets("default").Get(context.Background(), "frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createReplicaSetPods(t, c.Client, rs)
	waitReady(t, k, "-l", "tier=frontend")
	names := strings.Fields(k.ok("get", "pods", "-l", "tier=frontend", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(names) != 3 {
		t.Fatalf("want 3 frontend pods, got %v", names)
	}
	return names
}

// waitReady waits with kubectl wait until the pods named by args are
// Ready.
func waitReady(t *testing.T, k *kubectl, args ...string) {
	t.Helper()
	r := k.run(append([]string{"wait", "--for=condition=Ready", "pod", "--timeout=60s"}, args...)...)
	if r.code != 0 || !regexp.MustCompile(`\A(pod/\S+ condition met\n)+\z`).MatchString(r.stdout) {
		t.Fatalf("kubectl wait: %s", r)
	}
}

// describes checks that kubectl describe printed field with value on a
// line of its own (at any indentation and padding).
func describes(t *testing.T, out, field, value string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^ *` + regexp.QuoteMeta(field) + `: +` + regexp.QuoteMeta(value) + `$`).MatchString(out) {
		t.Errorf("describe does not show %s: %s:\n%s", field, value, out)
	}
}

// section returns the lines of kubectl describe output from the line
// starting with title to the end.
func section(out, title string) string {
	if i := strings.Index(out, "\n"+title); i >= 0 {
		return out[i+1:]
	}
	return ""
}

// TestDescribe describes a pod that the scheduler placed and the node
// runs: its node, state and the scheduler's event.
func TestDescribe(t *testing.T) {
	_, k := startCluster(t, simnode.Config{})
	k.want(0, "pod/nginx created\n", "", "apply", "-f", podManifest)
	waitReady(t, k, "nginx")

	matchLines(t, "get pods -o wide", k.ok("get", "pods", "-o", "wide"), `NAME    READY   STATUS    RESTARTS   AGE   IP   NODE       NOMINATED NODE   READINESS GATES
nginx   1/1     Running   0          {age}   {any}   worker-0   <none>   <none>
`)
	hostIP := simnode.HostIP(0).String()
	podIP := k.ok("get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	out := k.ok("describe", "pod", "nginx")
	for _, f := range [][2]string{
		{"Name", "nginx"}, {"Namespace", "default"}, {"Priority", "0"}, {"Service Account", "default"},
		{"Node", "worker-0/" + hostIP}, {"Status", "Running"}, {"IP", podIP},
		{"Image", "nginx:1.14.2"}, {"Port", "80/TCP"}, {"State", "Running"}, {"Ready", "True"}, {"Restart Count", "0"},
		{"QoS Class", "BestEffort"}, {"Tolerations", "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"},
	} {
		describes(t, out, f[0], f[1])
	}
	matchLines(t, "describe pod: events", section(out, "Events:"), `Events:
  Type    Reason     Age   From               Message
  ----    ------     ----  ----               -------
  Normal  Scheduled  {age}   default-scheduler  Successfully assigned default/nginx to worker-0
`)
	matchLines(t, "get events", k.ok("get", "events"), `LAST SEEN   TYPE     REASON      OBJECT      MESSAGE
{age}   Normal   Scheduled   pod/nginx   Successfully assigned default/nginx to worker-0
`)

	out = k.ok("describe", "node", node)
	describes(t, out, "Name", node)
	describes(t, out, "InternalIP", hostIP)
	if !regexp.MustCompile(`(?m)^  Ready +True +.* KubeletReady +kubelet is posting ready status$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  default +nginx +0 \(0%\) +0 \(0%\) +0 \(0%\) +0 \(0%\) +`+agePattern+`$`).MatchString(out) {
		t.Errorf("describe node does not show it Ready and running default/nginx:\n%s", out)
	}

	k.ok("apply", "-f", serviceManifest)
	out = k.ok("describe", "service", "my-service")
	ip := k.ok("get", "service", "my-service", "-o", "jsonpath={.spec.clusterIP}")
	for _, f := range [][2]string{
		{"Name", "my-service"}, {"Namespace", "default"}, {"Selector", "app.kubernetes.io/name=MyApp"}, {"Type", "ClusterIP"},
		{"IP", ip}, {"Port", "<unset>  80/TCP"}, {"TargetPort", "9376/TCP"}, {"Endpoints", "<none>"}, {"Events", "<none>"},
	} {
		describes(t, out, f[0], f[1])
	}
}

// TestDeletePodWait deletes running pods: --wait (the default) returns once
// the node has stopped the pod and it is gone, --wait=false at once, with
// the pod still terminating.
func TestDeletePodWait(t *testing.T) {
	_, k := startCluster(t, simnode.Config{TerminationDelay: 2 * time.Second})
	k.ok("apply", "-f", podManifest)
	k.ok("apply", "-n", "kube-public", "-f", podManifest)
	waitReady(t, k, "nginx")
	waitReady(t, k, "-n", "kube-public", "nginx")

	if r := k.want(0, "pod \"nginx\" deleted from kube-public namespace\n", "", "delete", "-n", "kube-public", "pod", "nginx", "--wait=false"); r.code != 0 {
		t.FailNow()
	}
	matchLines(t, "get a terminating pod", k.ok("get", "-n", "kube-public", "pod", "nginx"), `NAME    READY   STATUS        RESTARTS   AGE
nginx   1/1     Terminating   0          {age}
`)

	k.want(0, "pod \"nginx\" deleted from default namespace\n", "", "delete", "pod", "nginx", "--wait")
	k.fails("Error from server (NotFound): pods \"nginx\" not found\n", "get", "pod", "nginx")
	k.want(0, "", "", "wait", "--for=delete", "-n", "kube-public", "pod/nginx", "--timeout=10s")
	k.want(0, "", "No resources found\n", "get", "pods", "-A")
}

// drainOutput checks what kubectl drain printed for pods that were all
// evicted: its stdout, in any order within the evictions. cordoned is
// what it said of cordoning the node.
func drainOutput(t *testing.T, r result, cordoned string, pods []string) {
	t.Helper()
	want := []string{"node/" + node + " " + cordoned, "node/" + node + " drained"}
	for _, p := range pods {
		want = append(want, "evicting pod default/"+p, "pod/"+p+" evicted")
	}
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	slices.Sort(want)
	slices.Sort(got)
	if r.code != 0 || !slices.Equal(got, want) {
		t.Errorf("drain: want exit 0 and lines %q, got %s", want, r)
	}
}

// TestDrain drains a node through the eviction subresource: it refuses
// pods no controller would recreate until --force, evicts the rest, and
// leaves the node cordoned.
func TestDrain(t *testing.T) {
	c, k := startCluster(t, simnode.Config{})
	pods := applyReplicaSet(t, c, k)
	k.ok("apply", "-f", podManifest)
	waitReady(t, k, "nginx")

	k.want(1, "node/worker-0 cordoned\n", `error: unable to drain node "worker-0" due to error: cannot delete Pods that declare no controller (use --force to override): default/nginx, continuing command...
There are pending nodes to be drained:
 worker-0
cannot delete Pods that declare no controller (use --force to override): default/nginx
`, "drain", node, "--ignore-daemonsets", "--timeout=60s")
	matchLines(t, "get nodes after a failed drain", k.ok("get", "nodes"), `NAME       STATUS                     ROLES    AGE   VERSION
worker-0   Ready,SchedulingDisabled   <none>   {age}   {any}
`)

	r := k.run("drain", node, "--ignore-daemonsets", "--force", "--timeout=60s")
	if r.stderr != "Warning: deleting Pods that declare no controller: default/nginx\n" {
		t.Errorf("drain --force: want a warning about default/nginx, got %s", r)
	}
	drainOutput(t, r, "already cordoned", append(pods, "nginx"))
	k.want(0, "", "No resources found in default namespace.\n", "get", "pods")

	k.want(0, "node/worker-0 uncordoned\n", "", "uncordon", node)
	matchLines(t, "get nodes after uncordon", k.ok("get", "nodes"), `NAME       STATUS   ROLES    AGE   VERSION
worker-0   Ready    <none>   {age}   {any}
`)
}

// TestDrainRespectsPodDisruptionBudget drains a node whose three frontend
// pods are guarded by a budget of minAvailable 2: one eviction is allowed,
// the other two are refused with 429 until kubectl gives up.
func TestDrainRespectsPodDisruptionBudget(t *testing.T) {
	c, k := startCluster(t, simnode.Config{})
	pods := applyReplicaSet(t, c, k)
	pdb := writeManifest(t, "frontend-pdb.yaml", `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: frontend-pdb
spec:
  minAvailable: 2
  selector:
    matchLabels:
      tier: frontend
`)
	k.want(0, "poddisruptionbudget.policy/frontend-pdb created\n", "", "apply", "-f", pdb)
	// What the disruption controller would report (skiff has none yet): 3
	// healthy of 2 wanted, so one disruption allowed.
	setBudgetStatus(t, c.Client, "frontend-pdb", 3, 2)
	matchLines(t, "get pdb", k.ok("get", "pdb"), `NAME           MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE
frontend-pdb   2               N/A               1                     {age}
`)

	r := k.run("drain", node, "--ignore-daemonsets", "--timeout=8s")
	left := strings.Fields(k.ok("get", "pods", "-l", "tier=frontend", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(left) != 2 {
		t.Fatalf("the budget allows one eviction: want 2 of %v left, got %v\n%s", pods, left, r)
	}
	var evicted string
	for _, p := range pods {
		if !slices.Contains(left, p) {
			evicted = p
		}
	}
	if r.code != 1 || !strings.HasPrefix(r.stdout, "node/worker-0 cordoned\n") || !strings.Contains(r.stdout, "pod/"+evicted+" evicted\n") ||
		strings.Contains(r.stdout, "drained") {
		t.Errorf("drain blocked by a budget: want exit 1, cordoned, %s evicted and no drained, got %s", evicted, r)
	}
	for _, p := range left {
		for _, want := range []string{
			`error when evicting pods/"` + p + `" -n "default" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.` + "\n",
			`error when evicting pods/"` + p + `" -n "default": global timeout reached: 8s`,
			"\npod/" + p + "\n",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("drain stderr lacks %q:\n%s", want, r.stderr)
			}
		}
	}
	if !strings.Contains(r.stderr, "There are pending nodes to be drained:\n worker-0\n") {
		t.Errorf("drain stderr does not name worker-0 as pending:\n%s", r.stderr)
	}
	matchLines(t, "get pods after a blocked drain", k.ok("get", "pods"), `NAME             READY   STATUS    RESTARTS   AGE
`+left[0]+`   1/1     Running   0          {age}
`+left[1]+`   1/1     Running   0          {age}
`)
}

// setBudgetStatus writes the status the disruption controller computes
// for a budget with healthy pods of which desired must stay.
func setBudgetStatus(t *testing.T, cs kubernetes.Interface, name string, healthy, desired int32) {
	t.Helper()
	ctx := context.Background()
	pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation, CurrentHealthy: healthy, DesiredHealthy: desired, ExpectedPods: healthy,
		DisruptionsAllowed: max(healthy-desired, 0),
		Conditions: []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue,
			Reason: policyv1.SufficientPodsReason, LastTransitionTime: metav1.Now(), ObservedGeneration: pdb.Generation}},
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set the status of budget %s: %v", name, err)
	}
}
