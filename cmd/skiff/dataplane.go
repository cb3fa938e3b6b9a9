package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"skiff.dev/skiff/dataplane"
)

func newDataplaneCommand(logger func() *slog.Logger) *cobra.Command {
	var node, pinDir string
	cmd := &cobra.Command{
		Use:   "dataplane",
		Short: "Inspect or remove this node's eBPF service dataplane",
	}
	cmd.PersistentFlags().StringVar(&node, "node-name", "", "the node (default: the hostname)")
	cmd.PersistentFlags().StringVar(&pinDir, "pin-dir", "", "bpffs directory of the node's pinned maps and links (default /sys/fs/bpf/skiff/<node>)")
	dir := func() (string, error) {
		d := pinDir
		if d == "" {
			if node == "" {
				h, err := os.Hostname()
				if err != nil {
					return "", err
				}
				node = h
			}
			d = dataplane.DefaultPinDir(node)
		}
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("no dataplane state at %s (is skiff's agent running on this node? see --node-name and --pin-dir): %w", d, err)
		}
		return d, nil
	}
	cmd.AddCommand(newDataplaneRunCommand(logger, &node, &pinDir))
	cmd.AddCommand(&cobra.Command{
		Use:   "services",
		Short: "List each service frontend with its backends and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			entries, err := dataplane.ListServices(d)
			if err != nil {
				return fmt.Errorf("read %s: %w", d, err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tFRONTEND\tKIND\tPOLICY\tACTIVE\tBACKENDS")
			for _, e := range entries {
				front := fmt.Sprintf("%s:%d/%s", e.Addr, e.Port, e.Protocol)
				if !e.Addr.IsValid() {
					front = fmt.Sprintf("*:%d/%s", e.Port, e.Protocol)
				}
				var policy []string
				if e.ExternalLocal {
					policy = append(policy, "eTP=Local")
				}
				if e.InternalLocal {
					policy = append(policy, "iTP=Local")
				}
				if e.AffinityTimeout > 0 {
					policy = append(policy, "affinity="+e.AffinityTimeout.String())
				}
				if e.Maglev {
					policy = append(policy, "maglev")
				}
				var backends []string
				for _, b := range e.Backends {
					s := fmt.Sprintf("%s (%s", b.Addr, b.State)
					if b.Local {
						s += ", local"
					}
					backends = append(backends, s+")")
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\n", e.ID, front, e.Kind, orDash(strings.Join(policy, ",")), e.Active, orDash(strings.Join(backends, ", ")))
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "conntrack",
		Short: "List the NodePort connection tracking entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			entries, err := dataplane.ListConntrack(d)
			if err != nil {
				return fmt.Errorf("read %s: %w", d, err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROTO\tDIR\tCLIENT\tFRONTEND\tBACKEND\tSNAT\tSTATE\tEXPIRES")
			for _, e := range entries {
				dirn, state := "orig", "open"
				if e.Reply {
					dirn = "reply"
				}
				if e.Closing {
					state = "closing"
				}
				snat := "-"
				if e.SNAT.IsValid() {
					snat = e.SNAT.String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Protocol, dirn, e.Client, e.Frontend, e.Backend, snat, state, e.Expires.Round(1e9))
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "cleanup",
		Short: "Remove everything skiff's dataplane attached on this node (programs, maps, routes, iptables chains)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			return dataplane.Cleanup(dataplane.CleanupConfig{PinDir: d})
		},
	})
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
