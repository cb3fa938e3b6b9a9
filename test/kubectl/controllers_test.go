package kubectl

import (
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/controlplane/server"
	"skiff.dev/skiff/test/simnode"
)

// With the real controllers, the documentation's Deployment rolls out,
// rolls over to an edited image and back with kubectl rollout, scales, and
// goes with its ReplicaSets and pods on delete.
func TestRolloutWithControllers(t *testing.T) {
	c := simnode.StartCluster(t, simnode.ClusterConfig{
		Nodes:       simnode.Config{Count: 2, Prefix: "worker"},
		Controllers: server.ControllerConstructors(server.Config{}, nil),
	})
	k := newKubectl(t, c.Server)
	status := func() {
		t.Helper()
		out := k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=60s")
		if !strings.HasSuffix(out, "deployment \"nginx-deployment\" successfully rolled out\n") {
			t.Fatalf("rollout status:\n%s", out)
		}
	}
	k.ok("apply", "-f", deploymentManifest)
	status()
	k.ok("apply", "-f", editedManifest(t, "nginx-deployment.yaml", "image: nginx:1.14.2", "image: nginx:1.16.1"))
	status()
	k.want(0, `deployment.apps/nginx-deployment 
REVISION  CHANGE-CAUSE
1         <none>
2         <none>

`, "", "rollout", "history", "deployment/nginx-deployment")
	if img := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "nginx:1.16.1" {
		t.Fatalf("image after the edit: %s", img)
	}
	k.want(0, "deployment.apps/nginx-deployment rolled back\n", undoWarning, "rollout", "undo", "deployment/nginx-deployment")
	status()
	if img := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "nginx:1.14.2" {
		t.Fatalf("image after undo: %s", img)
	}
	// Two ReplicaSets: the old one scaled to zero, the current one at 3.
	rs := k.ok("get", "rs", "-l", "app=nginx", "-o", "jsonpath={range .items[*]}{.spec.replicas} {end}")
	if f := strings.Fields(rs); len(f) != 2 || !(f[0] == "3" && f[1] == "0" || f[0] == "0" && f[1] == "3") {
		t.Fatalf("replica sets' replicas: %q", rs)
	}

	k.want(0, "deployment.apps/nginx-deployment scaled\n", "", "scale", "deployment", "nginx-deployment", "--replicas=5")
	status()
	if ready := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.status.readyReplicas}"); ready != "5" {
		t.Fatalf("ready replicas after scaling to 5: %s", ready)
	}

	k.ok("delete", "deployment", "nginx-deployment", "--wait")
	deadline := time.Now().Add(60 * time.Second)
	for {
		left := k.ok("get", "rs,pods", "-l", "app=nginx", "-o", "name")
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the garbage collector left:\n%s", left)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
