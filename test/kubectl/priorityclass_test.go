package kubectl

import (
	"strings"
	"testing"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// TestPriorityClasses creates PriorityClasses with kubectl create
// priorityclass and reads them back through the short name, next to the
// built-in classes the server creates; a second global default, an
// oversized value and deleting a built-in class are refused with
// Kubernetes' errors.
func TestPriorityClasses(t *testing.T) {
	k := newKubectl(t, servertest.Start(t))

	k.want(0, "priorityclass.scheduling.k8s.io/high created\n", "", "create", "priorityclass", "high", "--value=1000", "--description=for the important pods")
	k.want(0, "priorityclass.scheduling.k8s.io/batch created\n", "", "create", "priorityclass", "batch", "--value=10", "--global-default", "--preemption-policy=Never")
	matchLines(t, "get pc", k.ok("get", "pc"), `NAME                      VALUE        GLOBAL-DEFAULT   AGE   PREEMPTIONPOLICY
batch                     10           true             {age}   Never
high                      1000         false            {age}   PreemptLowerPriority
system-cluster-critical   2000000000   false            {age}   PreemptLowerPriority
system-node-critical      2000001000   false            {age}   PreemptLowerPriority
`)
	if got := k.ok("get", "priorityclass", "high", "-o", "jsonpath={.value} {.description} {.preemptionPolicy}"); got != "1000 for the important pods PreemptLowerPriority" {
		t.Errorf("get priorityclass high -o jsonpath: %q", got)
	}
	out := k.ok("describe", "pc", "high")
	for _, want := range []string{"Name:", "high", "Value:", "1000", "PreemptionPolicy:", "Description:", "for the important pods"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe pc high lacks %q:\n%s", want, out)
		}
	}

	k.fails(`error: failed to create priorityclass: priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass batch is already marked as default. Only one default can exist
`, "create", "priorityclass", "other", "--value=20", "--global-default")
	k.fails(`error: failed to create priorityclass: PriorityClass.scheduling.k8s.io "huge" is invalid: value: Forbidden: maximum allowed value of a user defined priority is 1000000000
`, "create", "priorityclass", "huge", "--value=2000000000")
	k.fails(`Error from server (Forbidden): priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted
`, "delete", "pc", "system-node-critical")
	k.want(0, "priorityclass.scheduling.k8s.io \"high\" deleted\n", "", "delete", "pc", "high")
}
