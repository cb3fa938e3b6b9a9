package kubectl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"skiff.dev/skiff/controlplane/server/servertest"
)

// kubectlBin is stock kubectl, built by TestMain.
var kubectlBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-kubectl-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubectlBin = filepath.Join(dir, "kubectl")
	if err := buildKubectl(kubectlBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildKubectl builds cmd/kubectl into bin, stamped with the version of the
// k8s.io modules it is built from (kubectl checks the version skew against
// the server and cannot parse an unstamped build's version).
func buildKubectl(bin string) error {
	const v = "k8s.io/component-base/version"
	ldflags := fmt.Sprintf("-X %[1]s.gitVersion=v1.37.2 -X %[1]s.gitMajor=1 -X %[1]s.gitMinor=37", v)
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./cmd/kubectl")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build kubectl: %w\n%s", err, out)
	}
	return nil
}

// kubectl runs the kubectl binary against one server.
type kubectl struct {
	t          *testing.T
	kubeconfig string
	home       string
}

// newKubectl returns a kubectl for srv with a home directory of its own
// (kubectl keeps its discovery cache there).
func newKubectl(t *testing.T, srv *servertest.Server) *kubectl {
	return &kubectl{t: t, kubeconfig: srv.KubeconfigPath(), home: t.TempDir()}
}

// result is what one kubectl command did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

func (k *kubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Env = []string{"HOME=" + k.home, "PATH=" + os.Getenv("PATH")}
	return cmd
}

// run runs kubectl with args and returns what it printed and its exit code.
func (k *kubectl) run(args ...string) result {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := k.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ctx.Err() != nil {
			k.t.Fatalf("kubectl %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), r)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// ok runs kubectl, fails the test unless it exits 0 with nothing on
// stderr, and returns its stdout.
func (k *kubectl) ok(args ...string) string {
	k.t.Helper()
	r := k.run(args...)
	if r.code != 0 || r.stderr != "" {
		k.t.Fatalf("want success with a quiet stderr, got %s", r)
	}
	return r.stdout
}

// want checks a command's exact exit code, stdout and stderr.
func (k *kubectl) want(code int, stdout, stderr string, args ...string) result {
	k.t.Helper()
	r := k.run(args...)
	if r.code != code || r.stdout != stdout || r.stderr != stderr {
		k.t.Errorf("kubectl %s:\nwant exit %d\nstdout:\n%s\nstderr:\n%s\ngot %s", strings.Join(args, " "), code, stdout, stderr, r)
	}
	return r
}

// fails runs a command that must fail with exit code 1 and print exactly
// stderr and nothing on stdout.
func (k *kubectl) fails(stderr string, args ...string) {
	k.t.Helper()
	k.want(1, "", stderr, args...)
}

// agePattern matches kubectl's AGE column ("0s", "59s", "3m12s").
const agePattern = `[0-9]+[smhd]([0-9]+[smh])?`

// matchLines checks that got has exactly the lines of want, where {age}
// in want stands for an age, {any} for any text without spaces and {blank}
// for an empty cell; runs of
// spaces in want match runs of at least two spaces (table padding depends
// on the width of the cells an age or a generated name makes).
func matchLines(t *testing.T, what, got, want string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`\A`)
	for i, line := range strings.Split(want, "\n") {
		if i > 0 {
			b.WriteString(`\n`)
		}
		b.WriteString(linePattern(line))
	}
	b.WriteString(`\z`)
	if !regexp.MustCompile(b.String()).MatchString(got) {
		t.Errorf("%s:\nwant (pattern)\n%s\ngot\n%s", what, want, got)
	}
}

var (
	padding = regexp.MustCompile(` {2,}`)
	tokens  = strings.NewReplacer(`\{age\}`, agePattern, `\{any\}`, `\S+`, `\{blank\}`, ``)
)

func linePattern(line string) string {
	cells := padding.Split(line, -1)
	for i, c := range cells {
		cells[i] = tokens.Replace(regexp.QuoteMeta(c))
	}
	return strings.Join(cells, ` {2,}`)
}

// watch is a kubectl command left running (get -w), whose output lines
// arrive on lines.
type watch struct {
	cmd    *exec.Cmd
	lines  chan string
	cancel context.CancelFunc
	stderr bytes.Buffer
}

// start runs kubectl in the background; it is stopped when the test ends.
func (k *kubectl) start(args ...string) *watch {
	k.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch{cmd: k.command(ctx, args...), lines: make(chan string, 100), cancel: cancel}
	w.cmd.Stderr = &w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	go readLines(out, w.lines)
	k.t.Cleanup(w.stop)
	return w
}

func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	s := bufio.NewScanner(r)
	for s.Scan() {
		lines <- s.Text()
	}
}

// next returns the next line kubectl printed, failing the test if none
// comes within 30s.
func (w *watch) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-w.lines:
		if !ok {
			t.Fatalf("kubectl %s ended; stderr:\n%s", strings.Join(w.cmd.Args[1:], " "), w.stderr.String())
		}
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl %s printed nothing more in 30s", strings.Join(w.cmd.Args[1:], " "))
		return ""
	}
}

func (w *watch) stop() {
	w.cancel()
	_ = w.cmd.Wait()
}

// writeManifest writes text into a file of the test's own and returns its
// path.
func writeManifest(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// editedManifest returns testdata/name with old replaced by new, written to
// a file of the test's own, failing if old is not in it exactly once.
func editedManifest(t *testing.T, name, old, new string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(src), old) != 1 {
		t.Fatalf("testdata/%s holds %q %d times, want once", name, old, strings.Count(string(src), old))
	}
	return writeManifest(t, name, strings.Replace(string(src), old, new, 1))
}
