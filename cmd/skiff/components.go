package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/server"
)

// clientFor builds a clientset from a kubeconfig path (or the in-cluster
// configuration when empty).
func clientFor(kubeconfig, userAgent string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = 500, 1000, userAgent
	return kubernetes.NewForConfig(cfg)
}

func newSchedulerCommand(logger func() *slog.Logger) *cobra.Command {
	var kubeconfig string
	var usageWeight int64
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler alone against a server (leader-elected)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := clientFor(kubeconfig, "skiff-scheduler")
			if err != nil {
				return err
			}
			s, err := scheduler.New(server.SchedulerConfig(cs, server.Config{Logger: logger(), ObservedUsageWeight: usageWeight}))
			if err != nil {
				return err
			}
			return s.Start(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/kubeconfig", "kubeconfig of the server to schedule for")
	cmd.Flags().Int64Var(&usageWeight, "observed-usage-weight", 0, "weight of nodes' observed CPU and memory use against requests (0: default)")
	return cmd
}

func newControllerManagerCommand(logger func() *slog.Logger) *cobra.Command {
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers alone against a server (leader-elected)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := clientFor(kubeconfig, "skiff-controller-manager")
			if err != nil {
				return err
			}
			log := logger()
			m := controllers.NewManager(controllers.ManagerConfig{
				Client: cs, Controllers: server.ControllerConstructors(server.Config{Logger: log}), LeaderElection: true, Logger: log,
			})
			return m.Start(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/kubeconfig", "kubeconfig of the server to control")
	return cmd
}
