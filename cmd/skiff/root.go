package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

func newRootCommand() *cobra.Command {
	var logLevel string
	logger := func() *slog.Logger {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			lvl = slog.LevelInfo
		}
		l := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
		// client-go logs through klog: send it to the same place.
		klog.SetSlogLogger(l)
		return l
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
