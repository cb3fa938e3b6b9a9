package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/dataplane"
)

// newDataplaneRunCommand runs the service dataplane for one node against a
// server, as kube-proxy does (the node agent will embed the same).
func newDataplaneRunCommand(logger func() *slog.Logger, node, pinDir *string) *cobra.Command {
	var (
		kubeconfig, mode, backend, metricsAddr string
		devices, podDevices, addresses         []string
		serviceCIDR, clusterCIDR               string
		cfg                                    dataplane.Config
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run this node's service dataplane (eBPF, or kube-proxy's iptables shape) against a server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logger()
			if *node == "" {
				h, err := os.Hostname()
				if err != nil {
					return err
				}
				*node = h
			}
			switch m := dataplane.Mode(mode); m {
			case dataplane.ModeEBPF, dataplane.ModeIPTables:
				cfg.Mode = m
			case "auto":
				cfg.Mode = dataplane.ModeAuto
			default:
				return fmt.Errorf("--proxy-mode %q: want auto, ebpf or iptables", mode)
			}
			for flag, p := range map[string]struct {
				in  string
				out *[]netip.Prefix
			}{"--service-cidr": {serviceCIDR, &cfg.ServiceCIDRs}, "--cluster-cidr": {clusterCIDR, &cfg.ClusterCIDRs}} {
				pfx, err := netip.ParsePrefix(p.in)
				if err != nil {
					return fmt.Errorf("%s: %w", flag, err)
				}
				*p.out = []netip.Prefix{pfx}
			}
			for _, a := range addresses {
				pfx, err := netip.ParsePrefix(a)
				if err != nil {
					return fmt.Errorf("--nodeport-addresses %q: %w", a, err)
				}
				cfg.NodePortAddresses = append(cfg.NodePortAddresses, pfx)
			}
			rc, err := restConfig(kubeconfig, "skiff-dataplane")
			if err != nil {
				return err
			}
			cs := kubernetes.NewForConfigOrDie(rc)
			broadcaster := record.NewBroadcaster(record.WithContext(cmd.Context()))
			broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
			defer broadcaster.Shutdown()
			if cmd.Flags().Changed("min-sync-period") && cfg.MinSyncPeriod == 0 {
				cfg.MinSyncPeriod = -1 // explicitly none
			}
			cfg.NodeName, cfg.PinDir, cfg.IPTablesBackend, cfg.NodePortDevices, cfg.PodDevices = *node, *pinDir, backend, devices, podDevices
			cfg.Client, cfg.Logger = cs, log
			cfg.Recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "skiff-dataplane", Host: *node})
			d, err := dataplane.New(cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(d.Collectors()...)
			srv := &http.Server{Addr: metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("dataplane metrics", "addr", metricsAddr, "err", err)
				}
			}()
			defer srv.Close()
			log.Info("dataplane running", "node", *node, "mode", d.Mode(), "metrics", metricsAddr)
			return d.Start(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "/var/lib/skiff/kubeconfig", "kubeconfig of the server")
	f.StringVar(&mode, "proxy-mode", "auto", "auto (eBPF, falling back to iptables on kernels without the hooks), ebpf or iptables")
	f.StringVar(&backend, "iptables-backend", "nft", "iptables back end of the iptables mode: nft or legacy")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "", "cgroup v2 directory whose processes get socket-level ClusterIP balancing (default: the cgroup v2 root)")
	f.StringSliceVar(&devices, "nodeport-devices", nil, "devices that carry NodePort traffic (default: the default route's device)")
	f.StringSliceVar(&podDevices, "pod-devices", []string{"skiff0"}, "devices the local pods' traffic enters the node by (the CNI bridge)")
	f.StringSliceVar(&addresses, "nodeport-addresses", nil, "CIDRs of the node addresses that accept NodePort traffic (default: all of the NodePort devices')")
	f.StringVar(&serviceCIDR, "service-cidr", "10.43.0.0/16", "range of service cluster IPs (gets an unreachable route)")
	f.StringVar(&clusterCIDR, "cluster-cidr", "10.42.0.0/16", "range of pod IPs (gets an unreachable route)")
	f.DurationVar(&cfg.MinSyncPeriod, "min-sync-period", 0, "least time between two dataplane syncs after a burst of two; changes meanwhile go in the next sync (default: 1s in iptables mode, as kube-proxy's --iptables-min-sync-period; none in eBPF mode, whose syncs write only what changed)")
	f.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:10249", "address of the dataplane's /metrics")
	return cmd
}
