package kubectl

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// The manifests in testdata are the Kubernetes documentation's examples,
// unchanged: nginx-deployment.yaml from "Deployments"
// (controllers/nginx-deployment.yaml), simple-service.yaml from "Service"
// (service/simple-service.yaml), simple-pod.yaml from "Pods"
// (pods/simple-pod.yaml) and frontend.yaml from "ReplicaSet"
// (controllers/frontend.yaml).
const (
	deploymentManifest = "testdata/nginx-deployment.yaml"
	serviceManifest    = "testdata/simple-service.yaml"
)

// getDeployment reads a deployment back with kubectl get -o json.
func getDeployment(t *testing.T, k *kubectl, args ...string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	out := k.ok(append([]string{"get", "deployment", "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("kubectl get -o json printed no Deployment: %v\n%s", err, out)
	}
	return d
}

// TestApplyDocsManifests applies the documentation's Deployment and Service
// as they are, applies them again unchanged, then applies the Deployment
// with its image edited after another client added a sidecar: apply must
// patch the one field, keeping the sidecar and the nginx container's port.
func TestApplyDocsManifests(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))

	k.want(0, "deployment.apps/nginx-deployment created\n", "", "apply", "-f", deploymentManifest)
	k.want(0, "service/my-service created\n", "", "apply", "-f", serviceManifest)
	k.want(0, "deployment.apps/nginx-deployment unchanged\n", "", "apply", "-f", deploymentManifest)
	k.want(0, "service/my-service unchanged\n", "", "apply", "-f", serviceManifest)

	// Someone else adds a container (as a sidecar injector would).
	k.want(0, "deployment.apps/nginx-deployment patched\n", "", "patch", "deployment", "nginx-deployment",
		"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"log-shipper","image":"busybox:1.36","args":["sh","-c","tail -F /var/log/nginx/access.log"]}]}}}}`)

	edited := editedManifest(t, "nginx-deployment.yaml", "image: nginx:1.14.2", "image: nginx:1.16.1")
	k.want(0, "deployment.apps/nginx-deployment configured\n", "", "apply", "-f", edited)

	containers := `{range .spec.template.spec.containers[*]}{.name} {.image} {.ports[*].containerPort}{"\n"}{end}`
	got := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath="+containers)
	want := "log-shipper busybox:1.36 \nnginx nginx:1.16.1 80\n"
	if got != want {
		t.Errorf("containers after applying the edited manifest:\nwant\n%s\ngot\n%s", want, got)
	}
	d := getDeployment(t, k, "nginx-deployment")
	if d.Generation != 3 {
		t.Errorf("generation %d after create, patch and apply, want 3", d.Generation)
	}
	if last := d.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; !strings.Contains(last, `"image":"nginx:1.16.1"`) {
		t.Errorf("last-applied-configuration does not hold the edited image: %s", last)
	}
	if c := d.Spec.Template.Spec.Containers; len(c) == 2 && len(c[0].Args) != 3 {
		t.Errorf("the sidecar lost its args: %+v", c[0])
	}

	// Applying the original again takes the image back, still as a patch.
	k.want(0, "deployment.apps/nginx-deployment configured\n", "", "apply", "-f", deploymentManifest)
	want = "log-shipper busybox:1.36 \nnginx nginx:1.14.2 80\n"
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath="+containers); got != want {
		t.Errorf("containers after applying the original manifest again:\nwant\n%s\ngot\n%s", want, got)
	}
}

// TestApplyServerSide applies with server-side apply: the field manager
// owns what it applied, a second manager conflicts on the image until it
// forces, and the first manager can then drop the field it lost.
func TestApplyServerSide(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))

	k.want(0, "deployment.apps/nginx-deployment serverside-applied\n", "", "apply", "--server-side", "-f", deploymentManifest)
	k.want(0, "deployment.apps/nginx-deployment serverside-applied\n", "", "apply", "--server-side", "-f", deploymentManifest)
	managers := `{range .metadata.managedFields[*]}{.manager} {.operation}{"\n"}{end}`
	if got := k.ok("get", "deployment", "nginx-deployment", "--show-managed-fields", "-o", "jsonpath="+managers); got != "kubectl Apply\n" {
		t.Errorf("managed fields after server-side apply: want %q, got %q", "kubectl Apply\n", got)
	}

	edited := editedManifest(t, "nginx-deployment.yaml", "image: nginx:1.14.2", "image: nginx:1.16.1")
	k.fails(`error: Apply failed with 1 conflict: conflict with "kubectl": .spec.template.spec.containers[name="nginx"].image
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `+"`--force-conflicts`"+` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
`, "apply", "--server-side", "--field-manager=ci", "-f", edited)
	if img := getDeployment(t, k, "nginx-deployment").Spec.Template.Spec.Containers[0].Image; img != "nginx:1.14.2" {
		t.Errorf("a conflicting apply changed the image to %s", img)
	}

	k.want(0, "deployment.apps/nginx-deployment serverside-applied\n", "", "apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", edited)
	d := getDeployment(t, k, "nginx-deployment", "--show-managed-fields")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.16.1" {
		t.Errorf("forced apply left the image at %s", img)
	}
	owners := map[string]string{}
	for _, m := range d.ManagedFields {
		owners[m.Manager] = string(m.FieldsV1.Raw)
	}
	if !strings.Contains(owners["ci"], `"f:image"`) || strings.Contains(owners["kubectl"], `"f:image"`) {
		t.Errorf("after the forced apply ci should own the image and kubectl not:\nci: %s\nkubectl: %s", owners["ci"], owners["kubectl"])
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 || len(d.Spec.Template.Spec.Containers[0].Ports) != 1 {
		t.Errorf("the forced apply lost fields of the other manager: replicas %v, ports %v", d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Ports)
	}
}

// TestApplyDryRunServer checks that --dry-run=server runs the whole write
// (defaulting, validation) and stores nothing.
func TestApplyDryRunServer(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))

	k.want(0, "deployment.apps/nginx-deployment created (server dry run)\n", "", "apply", "--dry-run=server", "-f", deploymentManifest)
	k.fails("Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n", "get", "deployment", "nginx-deployment")

	// The server's answer is the object it would have stored: defaulted.
	out := k.ok("apply", "--dry-run=server", "-f", deploymentManifest, "-o", "jsonpath={.spec.strategy.type} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.restartPolicy}")
	if out != "RollingUpdate IfNotPresent Always" {
		t.Errorf("dry-run answer is not defaulted: %q", out)
	}
	k.want(0, "deployment.apps/nginx-deployment serverside-applied (server dry run)\n", "", "apply", "--server-side", "--dry-run=server", "-f", deploymentManifest)
	k.fails("Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n", "get", "deployment", "nginx-deployment")

	k.ok("apply", "-f", deploymentManifest)
	edited := editedManifest(t, "nginx-deployment.yaml", "replicas: 3", "replicas: 5")
	k.want(0, "deployment.apps/nginx-deployment configured (server dry run)\n", "", "apply", "--dry-run=server", "-f", edited)
	d := getDeployment(t, k, "nginx-deployment")
	if *d.Spec.Replicas != 3 || d.Generation != 1 {
		t.Errorf("dry-run apply changed the deployment: replicas %d, generation %d", *d.Spec.Replicas, d.Generation)
	}

	// A dry run is still validated.
	invalid := editedManifest(t, "nginx-deployment.yaml", "replicas: 3", "replicas: -1")
	k.fails(`The Deployment "nginx-deployment" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0
`, "apply", "--dry-run=server", "-f", invalid)
}

// TestStrictFieldValidation applies a manifest with a misspelt field: kubectl
// asks for strict validation by default, so the server must reject it,
// on create and on the patch that apply sends for an existing object;
// --validate=warn lets it through with a warning.
func TestStrictFieldValidation(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	typo := editedManifest(t, "nginx-deployment.yaml", "  replicas: 3", "  replica: 3")

	k.fails(`Error from server (BadRequest): error when creating "`+typo+`": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica"
`, "apply", "-f", typo)
	k.fails(`Error from server (BadRequest): error when creating "`+typo+`": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica"
`, "create", "-f", typo)
	k.fails("Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n", "get", "deployment", "nginx-deployment")

	// Server-side apply rejects it too, naming the field.
	r := k.run("apply", "--server-side", "-f", typo)
	if r.code != 1 || !strings.Contains(r.stderr, `failed to create typed patch object (default/nginx-deployment; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema`) {
		t.Errorf("server-side apply of an unknown field: want exit 1 naming .spec.replica, got %s", r)
	}

	// On an existing object apply sends a strategic merge patch.
	k.ok("apply", "-f", deploymentManifest)
	r = k.run("apply", "-f", typo)
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Error from server (BadRequest): error when applying patch:") ||
		!strings.HasSuffix(r.stderr, `for: "`+typo+`": error when patching "`+typo+`": strict decoding error: unknown field "spec.replica"`+"\n") {
		t.Errorf("apply of an unknown field onto an existing object: want BadRequest naming spec.replica, got %s", r)
	}

	k.want(0, "namespace/lenient created\n", "", "create", "namespace", "lenient")
	k.want(0, "deployment.apps/nginx-deployment created\n", "Warning: unknown field \"spec.replica\"\n", "apply", "-n", "lenient", "--validate=warn", "-f", typo)
}

// TestDeleteWait deletes with --wait (kubectl's default), which returns
// once the object is gone.
func TestDeleteWait(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	k.ok("apply", "-f", deploymentManifest, "-f", serviceManifest)

	if r := k.want(0, "deployment.apps \"nginx-deployment\" deleted from default namespace\n", "", "delete", "--wait", "deployment", "nginx-deployment"); r.code != 0 {
		t.FailNow()
	}
	k.fails("Error from server (NotFound): deployments.apps \"nginx-deployment\" not found\n", "get", "deployment", "nginx-deployment")
	k.want(0, "service \"my-service\" deleted from default namespace\n", "", "delete", "--wait", "-f", serviceManifest)
	k.want(0, "", "No resources found in default namespace.\n", "get", "deployments")
	k.fails("Error from server (NotFound): services \"my-service\" not found\n", "delete", "service", "my-service")
}
