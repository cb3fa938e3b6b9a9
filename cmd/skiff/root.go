package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff is a Kubernetes-style container orchestrator with an eBPF dataplane",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	return root
}
