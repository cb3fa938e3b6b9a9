package pkgdoc

import (
	"os/exec"
	"strings"
	"testing"

	"skiff.dev/skiff/internal/testenv"
)

func TestEveryPackageHasADocComment(t *testing.T) {
	goBin := testenv.RequireCommand(t, "go")
	out, err := exec.Command(goBin, "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "skiff.dev/skiff/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}
