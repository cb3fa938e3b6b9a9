package kubectl

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// TestGet reads the documentation's Deployment and Service back in every
// output kubectl offers: tables (default, wide, label columns, all
// namespaces, label selectors), YAML, JSON, JSONPath, names and custom
// columns.
func TestGet(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	k.ok("apply", "-f", deploymentManifest, "-f", serviceManifest)
	k.want(0, "namespace/staging created\n", "", "create", "namespace", "staging")
	k.ok("apply", "-n", "staging", "-f", deploymentManifest)
	k.want(0, "deployment.apps/nginx-deployment labeled\n", "", "label", "-n", "staging", "deployment", "nginx-deployment", "tier=frontend")

	t.Run("table", func(t *testing.T) {
		matchLines(t, "get deployments", k.ok("get", "deployments"), `NAME               READY   UP-TO-DATE   AVAILABLE   AGE
nginx-deployment   0/3     0            0           {age}
`)
		matchLines(t, "get deployment -o wide", k.ok("get", "deployment", "nginx-deployment", "-o", "wide"), `NAME               READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES         SELECTOR
nginx-deployment   0/3     0            0           {age}   nginx   nginx:1.14.2   app=nginx
`)
		ip := k.ok("get", "service", "my-service", "-o", "jsonpath={.spec.clusterIP}")
		if !strings.HasPrefix(ip, "10.43.") {
			t.Errorf("my-service has cluster IP %q, want one from the service CIDR 10.43.0.0/16", ip)
		}
		matchLines(t, "get services", k.ok("get", "services"), `NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE
kubernetes   ClusterIP   10.43.0.1   <none>   443/TCP   {age}
my-service   ClusterIP   `+ip+`   <none>   80/TCP   {age}
`)
		matchLines(t, "get services -o wide", k.ok("get", "services", "my-service", "-o", "wide"), `NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR
my-service   ClusterIP   `+ip+`   <none>   80/TCP   {age}   app.kubernetes.io/name=MyApp
`)
		matchLines(t, "get deployments,services", k.ok("get", "deployments,services"), `NAME                               READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/nginx-deployment   0/3     0            0           {age}

NAME                 TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE
service/kubernetes   ClusterIP   10.43.0.1   <none>   443/TCP   {age}
service/my-service   ClusterIP   `+ip+`   <none>   80/TCP   {age}
`)
		matchLines(t, "get namespaces", k.ok("get", "namespaces"), `NAME              STATUS   AGE
default           Active   {age}
kube-node-lease   Active   {age}
kube-public       Active   {age}
kube-system       Active   {age}
staging           Active   {age}
`)
	})

	t.Run("all-namespaces", func(t *testing.T) {
		matchLines(t, "get deployments -A", k.ok("get", "deployments", "-A"), `NAMESPACE   NAME               READY   UP-TO-DATE   AVAILABLE   AGE
default     nginx-deployment   0/3     0            0           {age}
staging     nginx-deployment   0/3     0            0           {age}
`)
		matchLines(t, "get deployments -A -L tier", k.ok("get", "deployments", "--all-namespaces", "-L", "tier"), `NAMESPACE   NAME               READY   UP-TO-DATE   AVAILABLE   AGE   TIER
default     nginx-deployment   0/3     0            0           {age}   {blank}
staging     nginx-deployment   0/3     0            0           {age}   frontend
`)
		if got := k.ok("get", "deployments", "-A", "-o", "name"); got != "deployment.apps/nginx-deployment\ndeployment.apps/nginx-deployment\n" {
			t.Errorf("get deployments -A -o name: %q", got)
		}
	})

	t.Run("selector", func(t *testing.T) {
		matchLines(t, "get deployments -A -l tier=frontend", k.ok("get", "deployments", "-A", "-l", "tier=frontend"), `NAMESPACE   NAME               READY   UP-TO-DATE   AVAILABLE   AGE
staging     nginx-deployment   0/3     0            0           {age}
`)
		matchLines(t, "get deployments -A -l app=nginx,tier!=frontend", k.ok("get", "deployments", "-A", "-l", "app=nginx,tier!=frontend"), `NAMESPACE   NAME               READY   UP-TO-DATE   AVAILABLE   AGE
default     nginx-deployment   0/3     0            0           {age}
`)
		matchLines(t, "get deployments -l 'app in (nginx, web)'", k.ok("get", "deployments", "-l", "app in (nginx, web)"), `NAME               READY   UP-TO-DATE   AVAILABLE   AGE
nginx-deployment   0/3     0            0           {age}
`)
		k.want(0, "", "No resources found in default namespace.\n", "get", "deployments", "-l", "tier=frontend")
		k.want(0, "", "No resources found\n", "get", "deployments", "-A", "-l", "app=other")
		k.fails(`Error from server (BadRequest): Unable to find "apps/v1, Resource=deployments" that match label selector "app=nginx,", field selector "": unable to parse requirement: found '', expected: identifier after ','
`, "get", "deployments", "-l", "app=nginx,")
	})

	t.Run("yaml-json", func(t *testing.T) {
		y := k.ok("get", "deployment", "nginx-deployment", "-o", "yaml")
		if !strings.HasPrefix(y, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n") {
			t.Errorf("get -o yaml does not start with apiVersion, kind, metadata:\n%s", y)
		}
		var fromYAML, fromJSON appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(y), &fromYAML); err != nil {
			t.Fatalf("get -o yaml is not a Deployment: %v\n%s", err, y)
		}
		fromJSON = getDeployment(t, k, "nginx-deployment")
		if !reflect.DeepEqual(fromYAML, fromJSON) {
			t.Errorf("-o yaml and -o json differ:\n%s\n%+v", y, fromJSON)
		}
		d := fromJSON
		c := d.Spec.Template.Spec.Containers
		if d.Name != "nginx-deployment" || d.Namespace != "default" || d.UID == "" || d.ResourceVersion == "" || d.CreationTimestamp.IsZero() ||
			d.Labels["app"] != "nginx" || *d.Spec.Replicas != 3 || d.Spec.Selector.MatchLabels["app"] != "nginx" ||
			len(c) != 1 || c[0].Name != "nginx" || c[0].Image != "nginx:1.14.2" || c[0].Ports[0].ContainerPort != 80 || c[0].Ports[0].Protocol != "TCP" {
			t.Errorf("get -o json does not hold the applied deployment: %+v", d)
		}

		list := k.ok("get", "deployments", "-A", "-o", "yaml")
		if !strings.HasPrefix(list, "apiVersion: v1\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n") ||
			!strings.HasSuffix(list, "kind: List\nmetadata:\n  resourceVersion: \"\"\n") {
			t.Errorf("get -A -o yaml is not a List of Deployments:\n%s", list)
		}
		var l struct {
			Kind  string
			Items []appsv1.Deployment
		}
		if err := json.Unmarshal([]byte(k.ok("get", "deployments", "-A", "-o", "json")), &l); err != nil || l.Kind != "List" || len(l.Items) != 2 {
			t.Errorf("get -A -o json: want a List of 2 deployments, got %+v (%v)", l, err)
		}
	})

	t.Run("jsonpath", func(t *testing.T) {
		if got := k.ok("get", "deployments", "-A", "-o", "jsonpath={.items[*].metadata.namespace}"); got != "default staging" {
			t.Errorf("jsonpath over a list: %q", got)
		}
		if got := k.ok("get", "deployment", "nginx-deployment", "-o", `jsonpath={.spec.template.spec.containers[?(@.name=="nginx")].ports[0].containerPort}`); got != "80" {
			t.Errorf("jsonpath with a filter: %q", got)
		}
		if got := k.ok("get", "service", "my-service", "-o", `jsonpath={range .spec.ports[*]}{.protocol}/{.port}->{.targetPort}{"\n"}{end}`); got != "TCP/80->9376\n" {
			t.Errorf("jsonpath range over the service's ports: %q", got)
		}
		matchLines(t, "custom-columns", k.ok("get", "deployments", "-A", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,TIER:.metadata.labels.tier"), `NS        NAME               IMAGE          TIER
default   nginx-deployment   nginx:1.14.2   <none>
staging   nginx-deployment   nginx:1.14.2   frontend
`)
	})
}

// TestGetWatch keeps kubectl get -w running while the deployment changes:
// each change arrives as a new row, and with --output-watch-events as a
// MODIFIED event.
func TestGetWatch(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))
	k.ok("apply", "-f", deploymentManifest)

	w := k.start("get", "deployments", "--watch")
	matchLines(t, "watch header", w.next(t), "NAME               READY   UP-TO-DATE   AVAILABLE   AGE")
	matchLines(t, "watch first row", w.next(t), "nginx-deployment   0/3     0            0           {age}")
	k.want(0, "deployment.apps/nginx-deployment scaled\n", "", "scale", "deployment", "nginx-deployment", "--replicas=5")
	matchLines(t, "watch row after scale", w.next(t), "nginx-deployment   0/5     0            0           {age}")

	ev := k.start("get", "deployments", "-w", "--output-watch-events", "-o", "wide")
	matchLines(t, "watch-events header", ev.next(t), "EVENT   NAME               READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES   SELECTOR")
	matchLines(t, "watch-events first row", ev.next(t), "ADDED   nginx-deployment   0/5   0   0   {age}   nginx   nginx:1.14.2   app=nginx")
	k.ok("apply", "-f", editedManifest(t, "nginx-deployment.yaml", "image: nginx:1.14.2", "image: nginx:1.16.1"))
	matchLines(t, "watch-events after apply", ev.next(t), "MODIFIED   nginx-deployment   0/3   0   0   {age}   nginx   nginx:1.16.1   app=nginx")
	matchLines(t, "watch row after apply", w.next(t), "nginx-deployment   0/3     0            0           {age}")

	k.want(0, "service/my-service created\n", "", "apply", "-f", serviceManifest)
	svc := k.start("get", "services", "-w", "-l", "app.kubernetes.io/name!=MyApp", "-o", "name")
	if got := svc.next(t); got != "service/kubernetes" {
		t.Errorf("watch with a selector: first line %q, want service/kubernetes", got)
	}
	k.ok("label", "service", "my-service", "app.kubernetes.io/name=Other", "--overwrite")
	if got := svc.next(t); got != "service/my-service" {
		t.Errorf("watch with a selector: a service entering it printed %q, want service/my-service", got)
	}
}

// TestExplain reads the schema kubectl explain gets from the server's
// OpenAPI v3 document.
func TestExplain(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))

	k.want(0, `GROUP:      apps
KIND:       Deployment
VERSION:    v1

FIELD: replicas <integer>


DESCRIPTION:
    Number of desired pods. This is a pointer to distinguish between explicit
    zero and not specified. Defaults to 1.
    

`, "", "explain", "deployment.spec.replicas")

	out := k.ok("explain", "service.spec")
	for _, want := range []string{"KIND:       Service\nVERSION:    v1\n\nFIELD: spec <ServiceSpec>\n",
		"  clusterIP\t<string>\n", "  ports\t<[]ServicePort>\n", "  selector\t<map[string]string>\n", "  type\t<string>\n  enum: ClusterIP, ExternalName, LoadBalancer, NodePort\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain service.spec lacks %q:\n%s", want, out)
		}
	}
	out = k.ok("explain", "pods.spec.containers", "--recursive")
	for _, want := range []string{"KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n", "    containerPort\t<integer> -required-\n", "  name\t<string> -required-\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain pods.spec.containers --recursive lacks %q:\n%s", want, out)
		}
	}
	k.want(1, "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n", "error: field \"replica\" does not exist\n", "explain", "deployment.spec.replica")
	k.fails("the server doesn't have a resource type \"widgets\"\n", "explain", "widgets")
}
