// Package bench holds what skiff's benchmark suites share: the Suite
// interface that cmd/skiff-bench runs, and the environment it gives them.
//
// A suite measures one part of skiff (the API, the dataplane, the
// scheduler) and returns sections of the report. Numbers are reported, as
// ratios against a reference measured in the same run where one exists,
// and never asserted.
package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"skiff.dev/skiff/bench/report"
)

// Suite is one family of benchmarks.
type Suite interface {
	// Name is short and lower case; -run selects suites by it and its
	// flags are prefixed with it ("api.rounds").
	Name() string
	// Title heads the suite's part of the report.
	Title() string
	// RegisterFlags adds the suite's flags, each named "<Name>.<flag>".
	RegisterFlags(fs *flag.FlagSet)
	// Run measures and returns the suite's sections. On error it may
	// still return the sections it completed.
	Run(ctx context.Context, env Env) ([]report.Section, error)
}

// Env is what the benchmark command gives every suite.
type Env struct {
	Logger *slog.Logger
	// WorkDir is a scratch directory for this suite, removed after it.
	WorkDir string
	// Skiff returns the path of a skiff binary built from this tree (built
	// once per run, on first use).
	Skiff func(ctx context.Context) (string, error)
}

// BuildSkiff builds ./cmd/skiff of the module containing the working
// directory into dir and returns the binary's path.
func BuildSkiff(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module: the working directory is not inside skiff's module")
	}
	bin := filepath.Join(dir, "skiff")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/skiff")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/skiff: %w\n%s", err, out)
	}
	return bin, nil
}

// IntList is a comma-separated list of positive integers as a flag.
type IntList []int

// String prints the list as it is given on the command line.
func (l *IntList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set parses a comma-separated list, refusing what is not a positive
// integer.
func (l *IntList) Set(v string) error {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}
