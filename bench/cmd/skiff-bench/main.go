// Command skiff-bench runs skiff's benchmark suites and writes the report:
// README.md (Markdown), results.json and SVG figures in -out. `make bench`
// runs it. Every suite is listed in suites(); adding one is one line there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"skiff.dev/skiff/bench"
	"skiff.dev/skiff/bench/api"
	"skiff.dev/skiff/bench/controllers"
	"skiff.dev/skiff/bench/dataplane"
	"skiff.dev/skiff/bench/report"
	"skiff.dev/skiff/bench/scheduler"
)

// suites are all benchmark suites, in report order.
func suites() []bench.Suite {
	return []bench.Suite{
		api.NewSuite(),
		dataplane.NewSuite(),
		scheduler.NewSuite(),
		controllers.NewSuite(),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], suites()); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-bench:", err)
		os.Exit(1)
	}
}

// run parses args, runs the selected suites of all and writes the report.
func run(ctx context.Context, args []string, all []bench.Suite) error {
	fs := flag.NewFlagSet("skiff-bench", flag.ContinueOnError)
	out := fs.String("out", "bench/results", "directory for README.md, results.json and the figures")
	sel := fs.String("run", "", "run only the suites whose name matches this regular expression")
	keep := fs.Bool("keep", false, "keep every suite's scratch directory (kept anyway when a suite fails)")
	for _, s := range all {
		s.RegisterFlags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: skiff-bench [flags]\n\nsuites:")
		for _, s := range all {
			fmt.Fprintf(fs.Output(), " %s", s.Name())
		}
		fmt.Fprintf(fs.Output(), "\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	re, err := regexp.Compile(*sel)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	scratch, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	keepScratch := *keep
	defer func() {
		if keepScratch {
			log.Info("scratch directory kept", "dir", scratch)
			return
		}
		_ = os.RemoveAll(scratch)
	}()
	skiff := sync.OnceValues(func() (string, error) {
		log.Info("building skiff")
		return bench.BuildSkiff(ctx, scratch)
	})

	start := time.Now()
	rep := &report.Report{
		Title: "skiff benchmarks", Generated: start.UTC(), Machine: machine(ctx),
		Command: strings.TrimSpace("go run ./bench/cmd/skiff-bench " + strings.Join(args, " ")),
	}
	var failed []string
	for _, s := range all {
		if !re.MatchString(s.Name()) {
			continue
		}
		work, err := os.MkdirTemp(scratch, s.Name()+"-")
		if err != nil {
			return fmt.Errorf("scratch dir: %w", err)
		}
		log.Info("suite", "name", s.Name())
		t0 := time.Now()
		sections, err := s.Run(ctx, bench.Env{
			Logger: log.With("suite", s.Name()), WorkDir: work,
			Skiff: func(context.Context) (string, error) { return skiff() },
		})
		res := report.Suite{Name: s.Name(), Title: s.Title(), Duration: time.Since(t0), Sections: sections}
		if err != nil {
			res.Error = err.Error()
			failed = append(failed, s.Name())
			keepScratch = true
			log.Error("suite failed", "name", s.Name(), "err", err, "scratch", work)
		}
		rep.Suites = append(rep.Suites, res)
		if ctx.Err() != nil {
			break
		}
	}
	if len(rep.Suites) == 0 {
		return fmt.Errorf("no suite matches -run %q", *sel)
	}
	rep.Duration = time.Since(start)
	rep.Machine.LoadAfter = loadavg()
	if err := report.Write(*out, rep); err != nil {
		return err
	}
	log.Info("report written", "dir", *out, "took", rep.Duration.Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("suites failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}
