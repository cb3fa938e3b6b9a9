package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/controlplane/server"
)

func newServerCommand(logger func() *slog.Logger) *cobra.Command {
	var (
		cfg                                 server.Config
		serviceCIDR, clusterCIDR, portRange string
		advertise                           string
		kubeconfigMode                      string
		disableAgent                        bool
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (and, unless --disable-agent, a node agent for this machine)",
		Long: `Run the skiff control plane: the Kubernetes API over HTTPS backed by etcd
(embedded, single member, unless --etcd-endpoints is given), plus the
scheduler and controllers. On first start it creates a CA, serving and
admin certificates, and an admin kubeconfig at <data-dir>/kubeconfig.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.ServiceCIDR, err = netip.ParsePrefix(serviceCIDR); err != nil {
				return fmt.Errorf("--service-cidr: %w", err)
			}
			if cfg.ClusterCIDR, err = netip.ParsePrefix(clusterCIDR); err != nil {
				return fmt.Errorf("--cluster-cidr: %w", err)
			}
			if cfg.NodePortBase, cfg.NodePortSize, err = parsePortRange(portRange); err != nil {
				return fmt.Errorf("--service-node-port-range: %w", err)
			}
			if advertise != "" {
				if cfg.AdvertiseAddress, err = netip.ParseAddr(advertise); err != nil {
					return fmt.Errorf("--advertise-address: %w", err)
				}
			}
			mode, err := strconv.ParseUint(kubeconfigMode, 8, 32)
			if err != nil {
				return fmt.Errorf("--write-kubeconfig-mode %q: must be an octal file mode", kubeconfigMode)
			}
			cfg.KubeconfigMode = os.FileMode(mode)
			cfg.Logger = logger()
			if !disableAgent {
				cfg.Logger.Warn("the node agent is not built yet; running the control plane only (as with --disable-agent)")
			}
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			return s.Start(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "directory for etcd data, TLS material and the kubeconfig")
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the hostname)")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API listens on")
	f.IntVar(&cfg.HTTPSPort, "https-listen-port", 6443, "HTTPS port of the API")
	f.StringVar(&advertise, "advertise-address", "", "address of this server in the kubernetes Service's endpoints (default: the host's first address)")
	f.IntVar(&cfg.EtcdClientPort, "etcd-client-port", 2379, "client port of the embedded etcd (localhost only)")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", 2380, "peer port of the embedded etcd (localhost only)")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "use this external etcd cluster instead of the embedded member")
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle of the external etcd cluster")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd cluster")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd cluster")
	f.StringVar(&serviceCIDR, "service-cidr", "10.43.0.0/16", "range of service cluster IPs")
	f.StringVar(&clusterCIDR, "cluster-cidr", "10.42.0.0/16", "range of pod IPs, split into a /24 per node")
	f.StringVar(&portRange, "service-node-port-range", "30000-32767", "range of NodePort ports")
	f.DurationVar(&cfg.EventTTL, "event-ttl", 0, "how long events are kept (default 1h)")
	f.StringVar(&cfg.WriteKubeconfig, "write-kubeconfig", "", "also write the admin kubeconfig to this path")
	f.StringVar(&kubeconfigMode, "write-kubeconfig-mode", "0600", "file mode of the --write-kubeconfig file")
	f.BoolVar(&disableAgent, "disable-agent", false, "do not run a node agent on this machine")
	f.BoolVar(&cfg.Profiling, "profiling", true, "serve Go's profiles at /debug/pprof/ (administrators only)")
	return cmd
}

func parsePortRange(s string) (base, size int, err error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want first-last, such as 30000-32767", s)
	}
	first, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || first < 1 || last > 65535 || last < first {
		return 0, 0, fmt.Errorf("%q: want first-last with 1 <= first <= last <= 65535", s)
	}
	return first, last - first + 1, nil
}
