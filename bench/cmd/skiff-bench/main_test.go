package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/report"
)

// fakeSuite records how it was run and returns one section.
type fakeSuite struct {
	name    string
	fail    bool
	size    int
	ran     bool
	workDir string
}

func (f *fakeSuite) Name() string  { return f.name }
func (f *fakeSuite) Title() string { return "Fake " + f.name }
func (f *fakeSuite) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&f.size, f.name+".size", 1, "size")
}
func (f *fakeSuite) Run(_ context.Context, env bench.Env) ([]report.Section, error) {
	f.ran, f.workDir = true, env.WorkDir
	if _, err := os.Stat(env.WorkDir); err != nil {
		return nil, err
	}
	sec := []report.Section{{Title: "Numbers of " + f.name, Tables: []report.Table{{Header: []string{"size"}, Rows: [][]string{{strings.Repeat("x", f.size)}}}},
		Figures: []report.Figure{{Name: "fig", Caption: "a figure", SVG: report.BarChart{Title: "t", Groups: []string{"g"}, Series: []report.BarSeries{{Name: "s", Values: []float64{1}}}}.SVG()}}}}
	if f.fail {
		return sec, errors.New("it broke")
	}
	return sec, nil
}

func TestRunWritesEverySelectedSuite(t *testing.T) {
	out := t.TempDir()
	a, b, c := &fakeSuite{name: "alpha"}, &fakeSuite{name: "beta"}, &fakeSuite{name: "gamma"}
	if err := run(context.Background(), []string{"-out", out, "-run", "alpha|beta", "-beta.size", "3"}, []bench.Suite{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if !a.ran || !b.ran || c.ran {
		t.Errorf("ran alpha=%v beta=%v gamma=%v, want alpha and beta only", a.ran, b.ran, c.ran)
	}
	if _, err := os.Stat(a.workDir); !os.IsNotExist(err) {
		t.Errorf("scratch dir %s not removed: %v", a.workDir, err)
	}
	md, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Fake alpha", "## Fake beta", "| xxx |", "![a figure](beta-fig.svg)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "gamma") {
		t.Error("README.md mentions the unselected suite")
	}
	for _, f := range []string{"alpha-fig.svg", "beta-fig.svg", "results.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestRunReportsAFailedSuite(t *testing.T) {
	out := t.TempDir()
	bad, good := &fakeSuite{name: "bad", fail: true}, &fakeSuite{name: "good"}
	err := run(context.Background(), []string{"-out", out}, []bench.Suite{bad, good})
	if err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("run = %v, want an error naming the failed suite", err)
	}
	if !good.ran {
		t.Error("a failed suite stopped the next one")
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bad.workDir)) })
	if _, err := os.Stat(bad.workDir); err != nil {
		t.Errorf("the failed suite's scratch dir was not kept: %v", err)
	}
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Suites) != 2 || r.Suites[0].Error != "it broke" || len(r.Suites[0].Sections) != 1 || r.Suites[1].Error != "" {
		t.Errorf("results.json suites = %+v", r.Suites)
	}
}

func TestRunRejectsAnUnmatchedSelection(t *testing.T) {
	err := run(context.Background(), []string{"-out", t.TempDir(), "-run", "nothing"}, []bench.Suite{&fakeSuite{name: "alpha"}})
	if err == nil {
		t.Error("run with a -run that matches no suite succeeded")
	}
}
