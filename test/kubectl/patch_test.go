package kubectl

import (
	"testing"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// TestPatch patches the documentation's Deployment with each patch type
// kubectl sends, checking each type's own semantics: a strategic merge
// patch merges containers by name, a JSON merge patch replaces lists
// whole, a JSON patch applies its operations in order or not at all.
func TestPatch(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	k.ok("apply", "-f", deploymentManifest)
	containers := `jsonpath={range .spec.template.spec.containers[*]}{.name} {.image} {.ports[*].containerPort} {.resources.limits.memory}{"\n"}{end}`

	k.want(0, "deployment.apps/nginx-deployment patched\n", "", "patch", "deployment", "nginx-deployment",
		"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"nginx","resources":{"limits":{"memory":"128Mi"}}}]}}}}`)
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", containers); got != "nginx nginx:1.14.2 80 128Mi\n" {
		t.Errorf("strategic merge patch should merge the container by name, keeping image and port: %q", got)
	}
	k.want(0, "deployment.apps/nginx-deployment patched (no change)\n", "", "patch", "deployment", "nginx-deployment",
		"--type=strategic", "-p", `{"spec":{"replicas":3}}`)

	k.want(0, "deployment.apps/nginx-deployment patched\n", "", "patch", "deployment", "nginx-deployment", "--type=merge",
		"-p", `{"metadata":{"labels":{"tier":"web"}},"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.16.1"}]}}}}`)
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", containers); got != "nginx nginx:1.16.1  \n" {
		t.Errorf("a JSON merge patch replaces the container list whole (no port, no limits left): %q", got)
	}
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.metadata.labels}"); got != `{"app":"nginx","tier":"web"}` {
		t.Errorf("merge patch of labels: %s", got)
	}
	k.want(0, "deployment.apps/nginx-deployment patched\n", "", "patch", "deployment", "nginx-deployment", "--type=merge",
		"-p", `{"metadata":{"labels":{"tier":null}}}`)

	k.want(0, "deployment.apps/nginx-deployment patched\n", "", "patch", "deployment", "nginx-deployment", "--type=json",
		"-p", `[{"op":"test","path":"/spec/replicas","value":3},{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels/env","value":"prod"}]`)
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.spec.replicas} {.metadata.labels}"); got != `4 {"app":"nginx","env":"prod"}` {
		t.Errorf("after the JSON patch: %s", got)
	}
	k.fails("The request is invalid: the server rejected our request due to an error in our request\n", "patch", "deployment", "nginx-deployment", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/replicas","value":7},{"op":"test","path":"/spec/replicas","value":3}]`)
	if got := k.ok("get", "deployment", "nginx-deployment", "-o", "jsonpath={.spec.replicas}"); got != "4" {
		t.Errorf("a JSON patch whose test failed changed replicas to %s", got)
	}

	// The patched object is still validated.
	k.fails(`The Deployment "nginx-deployment" is invalid: spec.template.spec.containers[0].image: Required value
`, "patch", "deployment", "nginx-deployment", "--type=json", "-p", `[{"op":"remove","path":"/spec/template/spec/containers/0/image"}]`)

	// The documentation's Service, patched the same three ways.
	k.ok("apply", "-f", serviceManifest)
	k.want(0, "service/my-service patched\n", "", "patch", "service", "my-service",
		"-p", `{"spec":{"ports":[{"port":80,"targetPort":8080}]}}`)
	ports := `jsonpath={range .spec.ports[*]}{.name}:{.protocol}/{.port}->{.targetPort}{"\n"}{end}`
	if got := k.ok("get", "service", "my-service", "-o", ports); got != ":TCP/80->8080\n" {
		t.Errorf("strategic merge patch should merge the service port by its port number: %q", got)
	}
	k.want(0, "service/my-service patched\n", "", "patch", "service", "my-service",
		"-p", `{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"targetPort":9377,"name":"https"}]}}`)
	if got := k.ok("get", "service", "my-service", "-o", ports); got != "http:TCP/80->8080\nhttps:TCP/443->9377\n" {
		t.Errorf("strategic merge patch should name the port and add another: %q", got)
	}
	k.fails(`The Service "my-service" is invalid: spec.ports[1].name: Required value
`, "patch", "service", "my-service", "--type=json", "-p", `[{"op":"remove","path":"/spec/ports/1/name"}]`)
}

// TestScale scales through the scale subresource.
func TestScale(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	k.ok("apply", "-f", deploymentManifest)

	k.want(0, "deployment.apps/nginx-deployment scaled\n", "", "scale", "deployment", "nginx-deployment", "--replicas=5")
	matchLines(t, "get after scale", k.ok("get", "deployment", "nginx-deployment"), `NAME               READY   UP-TO-DATE   AVAILABLE   AGE
nginx-deployment   0/5     0            0           {age}
`)
	k.fails("error: Expected replicas to be 3, was 5\n", "scale", "deployment", "nginx-deployment", "--current-replicas=3", "--replicas=1")
	k.want(0, "deployment.apps/nginx-deployment scaled\n", "", "scale", "deployment", "nginx-deployment", "--current-replicas=5", "--replicas=1")
	k.want(0, "deployment.apps/nginx-deployment scaled\n", "", "scale", "-f", deploymentManifest, "--replicas=2")
	if got := k.ok("get", "deployment", "nginx-deployment", "--subresource=scale", "-o", "jsonpath={.kind} {.spec.replicas} {.status.selector}"); got != "Scale 2 app=nginx" {
		t.Errorf("get --subresource=scale: %q", got)
	}
	matchLines(t, "get --subresource=scale", k.ok("get", "deployment", "nginx-deployment", "--subresource=scale"), `NAME               DESIRED   AVAILABLE
nginx-deployment   2         0
`)
	k.fails("error: Expected replicas to be 3, was 2\n", "scale", "deployment", "nginx-deployment", "--current-replicas=3", "--replicas=0")
}
