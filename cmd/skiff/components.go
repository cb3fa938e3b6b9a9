package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"skiff.dev/skiff/controlplane/controllers"
	"skiff.dev/skiff/controlplane/resourcemetrics"
	"skiff.dev/skiff/controlplane/scheduler"
	"skiff.dev/skiff/controlplane/server"
)

// restConfig loads a kubeconfig (or the in-cluster configuration when the
// path is empty) for a component.
func restConfig(kubeconfig, userAgent string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = 500, 1000, userAgent
	server.UseProtobuf(cfg)
	return cfg, nil
}

func newSchedulerCommand(logger func() *slog.Logger) *cobra.Command {
	var kubeconfig string
	var usageWeight int64
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler alone against a server (leader-elected)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := restConfig(kubeconfig, "skiff-scheduler")
			if err != nil {
				return err
			}
			log := logger()
			sc := server.SchedulerConfig(kubernetes.NewForConfigOrDie(rc), server.Config{Logger: log, ObservedUsageWeight: usageWeight})
			usage := resourcemetrics.NewPoller(metricsclient.NewForConfigOrDie(rc), 10*time.Second, log)
			sc.Usage = usage
			s, err := scheduler.New(sc)
			if err != nil {
				return err
			}
			go usage.Start(cmd.Context())
			return s.Start(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/kubeconfig", "kubeconfig of the server to schedule for")
	cmd.Flags().Int64Var(&usageWeight, "observed-usage-weight", 0, "weight of nodes' observed CPU and memory use against requests (0: default)")
	return cmd
}

func newControllerManagerCommand(logger func() *slog.Logger) *cobra.Command {
	var kubeconfig, clusterCIDR string
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers alone against a server (leader-elected)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := restConfig(kubeconfig, "skiff-controller-manager")
			if err != nil {
				return err
			}
			pfx, err := netip.ParsePrefix(clusterCIDR)
			if err != nil {
				return fmt.Errorf("--cluster-cidr: %w", err)
			}
			log := logger()
			list := server.ControllerConstructors(server.Config{Logger: log, ClusterCIDR: pfx},
				server.APIMetrics{Client: metricsclient.NewForConfigOrDie(rc)})
			m := controllers.NewManager(controllers.ManagerConfig{
				Client: kubernetes.NewForConfigOrDie(rc), Metadata: metadata.NewForConfigOrDie(rc),
				Controllers: list, LeaderElection: true, Logger: log,
			})
			return m.Start(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/kubeconfig", "kubeconfig of the server to control")
	cmd.Flags().StringVar(&clusterCIDR, "cluster-cidr", "10.42.0.0/16", "range of pod IPs, split into a /24 per node")
	return cmd
}
