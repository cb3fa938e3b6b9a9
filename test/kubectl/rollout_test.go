package kubectl

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// createRevision creates the ReplicaSet the deployment controller makes
// for revision rev of d's current template: the template with a
// pod-template-hash label, the deployment's annotations (its change-cause
// among them) and the revision annotation, controlled by d. skiff has no
// deployment controller yet; kubectl's rollout commands read only these
// ReplicaSets and patch the Deployment, so the test stands in for it.
func createRevision(t *testing.T, cs kubernetes.Interface, d *appsv1.Deployment, rev int) *appsv1.ReplicaSet {
	t.Helper()
	tmpl := d.Spec.Template.DeepCopy()
	raw, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New32a()
	h.Write(raw)
	hash := rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
	tmpl.Labels = map[string]string{}
	for k, v := range d.Spec.Template.Labels {
		tmpl.Labels[k] = v
	}
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	annotations := map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(rev)}
	for k, v := range d.Annotations {
		if k != "kubectl.kubernetes.io/last-applied-configuration" {
			annotations[k] = v
		}
	}
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: tmpl.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: selector, Template: *tmpl},
	}
	rs, err = cs.AppsV1().ReplicaSets(d.Namespace).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create revision %d of %s: %v", rev, d.Name, err)
	}
	return rs
}

// undoWarning is what kubectl rollout undo says of a deployment made with
// kubectl apply.
const undoWarning = "Warning: resource deployments/nginx-deployment was previously managed with 'kubectl apply'. Rolling back will not update the kubectl.kubernetes.io/last-applied-configuration annotation, which may cause unexpected behavior on future 'kubectl apply' operations. Consider using 'kubectl apply' with your previous configuration file instead.\n"

// TestRolloutHistoryAndUndo lists a deployment's revisions and rolls it
// back with kubectl rollout, over the ReplicaSets a deployment controller
// would have made.
func TestRolloutHistoryAndUndo(t *testing.T) {
	srv := servertest.Start(t)
	k := newKubectl(t, srv)

	k.ok("apply", "-f", deploymentManifest)
	k.want(0, "deployment.apps/nginx-deployment \nNo rollout history found.\n", "", "rollout", "history", "deployment/nginx-deployment")
	d := getDeployment(t, k, "nginx-deployment")
	rs1 := createRevision(t, srv.Client, &d, 1)

	k.ok("apply", "-f", editedManifest(t, "nginx-deployment.yaml", "image: nginx:1.14.2", "image: nginx:1.16.1"))
	k.want(0, "deployment.apps/nginx-deployment annotated\n", "", "annotate", "deployment", "nginx-deployment", "kubernetes.io/change-cause=image updated to 1.16.1")
	d = getDeployment(t, k, "nginx-deployment")
	rs2 := createRevision(t, srv.Client, &d, 2)

	k.want(0, `deployment.apps/nginx-deployment 
REVISION  CHANGE-CAUSE
1         <none>
2         image updated to 1.16.1

`, "", "rollout", "history", "deployment/nginx-deployment")

	out := k.ok("rollout", "history", "deployment/nginx-deployment", "--revision=1")
	for _, want := range []string{
		"deployment.apps/nginx-deployment with revision #1\n",
		"Pod Template:\n  Labels:\tapp=nginx\n\tpod-template-hash=" + rs1.Labels[appsv1.DefaultDeploymentUniqueLabelKey] + "\n",
		"    Image:\tnginx:1.14.2\n    Port:\t80/TCP\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout history --revision=1 lacks %q:\n%s", want, out)
		}
	}
	k.fails("error: unable to find the specified revision\n", "rollout", "history", "deployment/nginx-deployment", "--revision=3")

	// describe finds the ReplicaSets the same way.
	out = k.ok("describe", "deployment", "nginx-deployment")
	describes(t, out, "Annotations", "kubernetes.io/change-cause: image updated to 1.16.1")
	describes(t, out, "OldReplicaSets", rs1.Name+" (0/0 replicas created)")
	describes(t, out, "NewReplicaSet", rs2.Name+" (0/0 replicas created)")

	k.want(0, "deployment.apps/nginx-deployment rolled back (server dry run)\n", undoWarning, "rollout", "undo", "deployment/nginx-deployment", "--dry-run=server")
	if img := getDeployment(t, k, "nginx-deployment").Spec.Template.Spec.Containers[0].Image; img != "nginx:1.16.1" {
		t.Errorf("a dry-run undo changed the image to %s", img)
	}
	k.want(0, "deployment.apps/nginx-deployment rolled back\n", undoWarning, "rollout", "undo", "deployment/nginx-deployment")
	d = getDeployment(t, k, "nginx-deployment")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.14.2" {
		t.Errorf("undo left the image at %s, want revision 1's nginx:1.14.2", img)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok || d.Spec.Template.Labels["app"] != "nginx" {
		t.Errorf("undo should restore revision 1's labels without the hash: %v", d.Spec.Template.Labels)
	}
	if _, ok := d.Annotations["kubernetes.io/change-cause"]; ok || d.Annotations["kubectl.kubernetes.io/last-applied-configuration"] == "" {
		t.Errorf("undo should take revision 1's annotations and keep last-applied-configuration: %v", d.Annotations)
	}
	k.want(0, "deployment.apps/nginx-deployment skipped rollback (current template already matches revision 1)\n", undoWarning,
		"rollout", "undo", "deployment/nginx-deployment", "--to-revision=1")
	k.want(0, "deployment.apps/nginx-deployment rolled back\n", undoWarning, "rollout", "undo", "deployment/nginx-deployment", "--to-revision=2")
	if img := getDeployment(t, k, "nginx-deployment").Spec.Template.Spec.Containers[0].Image; img != "nginx:1.16.1" {
		t.Errorf("undo --to-revision=2 left the image at %s", img)
	}
	k.fails(undoWarning+"error: unable to find specified revision 7 in history\n", "rollout", "undo", "deployment/nginx-deployment", "--to-revision=7")

	k.want(0, "deployment.apps/nginx-deployment paused\n", "", "rollout", "pause", "deployment/nginx-deployment")
	k.fails(undoWarning+"error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again\n",
		"rollout", "undo", "deployment/nginx-deployment")
	k.want(0, "deployment.apps/nginx-deployment resumed\n", "", "rollout", "resume", "deployment/nginx-deployment")
	k.want(0, "deployment.apps/nginx-deployment restarted\n", "", "rollout", "restart", "deployment/nginx-deployment")
	if at := getDeployment(t, k, "nginx-deployment").Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; at == "" {
		t.Error("rollout restart did not stamp the template with kubectl.kubernetes.io/restartedAt")
	}
}
