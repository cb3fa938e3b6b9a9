package openapi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const generatedFile = "zz_generated.openapi.go"

// generateCommand returns the //go:generate command of doc.go.
func generateCommand(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if cmd, ok := strings.CutPrefix(line, "//go:generate "); ok {
			return strings.Fields(cmd)
		}
	}
	t.Fatal("doc.go has no //go:generate line")
	return nil
}

// TestGeneratedDefinitionsAreCurrent re-runs the go:generate command into a
// temporary directory and compares its output with the committed file.
func TestGeneratedDefinitionsAreCurrent(t *testing.T) {
	args := generateCommand(t)
	i := slices.Index(args, "--output-dir")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("go:generate line %q has no --output-dir", args)
	}
	dir := t.TempDir()
	args[i+1] = dir
	cmd := exec.Command(args[0], args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, generatedFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(generatedFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what openapi-gen generates now: run make generate", generatedFile)
	}
}
