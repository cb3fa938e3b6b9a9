package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	var logLevel string
	logger := func() *slog.Logger {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			lvl = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff is a Kubernetes-style container orchestrator with an eBPF dataplane",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(
		newServerCommand(logger),
		newSchedulerCommand(logger),
		newControllerManagerCommand(logger),
		newDataplaneCommand(logger),
	)
	return root
}
