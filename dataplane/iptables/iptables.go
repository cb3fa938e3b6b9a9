// Package iptables is the reference service dataplane: kube-proxy's
// iptables rule shape (KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* with
// `statistic --mode random`, KUBE-NODEPORTS, KUBE-MARK-MASQ and
// KUBE-POSTROUTING masquerading) hooked where kube-proxy hooks it (nat
// PREROUTING and OUTPUT), synced whole with iptables-restore. It is what
// the benchmarks measure the eBPF dataplane against, and the fallback for
// kernels without the eBPF hooks.
package iptables

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"skiff.dev/skiff/dataplane/internal/nsutil"
	"skiff.dev/skiff/dataplane/model"
)

// Config configures a Proxier.
type Config struct {
	// NetNS is the node's network namespace path ("" = current).
	NetNS string
	// Backend is "nft" (default) or "legacy": which iptables binaries.
	Backend string
	// ClusterCIDRs, when set, masquerade ClusterIP traffic from outside
	// the pod network, as kube-proxy's --cluster-cidr does.
	ClusterCIDRs []netip.Prefix
	Logger       *slog.Logger
}

// Proxier programs services as iptables rules. It implements
// model.Programmer; every sync (a Replace, or an Update of any number of
// services) rewrites skiff's chains with one iptables-restore, as
// kube-proxy's full sync does.
type Proxier struct {
	cfg      Config
	log      *slog.Logger
	iptables string
	mu       sync.Mutex
	services map[types.NamespacedName]model.Service
}

var _ model.Programmer = (*Proxier)(nil)

// Chains skiff owns. Service chains carry these prefixes.
const (
	chainServices      = "KUBE-SERVICES"
	chainNodePorts     = "KUBE-NODEPORTS"
	chainPostrouting   = "KUBE-POSTROUTING"
	chainMarkMasq      = "KUBE-MARK-MASQ"
	chainExtServices   = "KUBE-EXTERNAL-SERVICES"
	masqMark           = "0x4000/0x4000"
	prefixSvc          = "KUBE-SVC-"
	prefixSvl          = "KUBE-SVL-"
	prefixExt          = "KUBE-EXT-"
	prefixSep          = "KUBE-SEP-"
	commentPortals     = "kubernetes service portals"
	commentNodePorts   = "kubernetes service nodeports"
	commentPostrouting = "kubernetes postrouting rules"
)

// hooks are the jumps from the built-in chains into skiff's chains.
var hooks = []struct{ table, chain, target, comment string }{
	{"nat", "PREROUTING", chainServices, commentPortals},
	{"nat", "OUTPUT", chainServices, commentPortals},
	{"nat", "POSTROUTING", chainPostrouting, commentPostrouting},
	{"filter", "OUTPUT", chainServices, commentPortals},
	{"filter", "FORWARD", chainServices, commentPortals},
	{"filter", "INPUT", chainExtServices, commentNodePorts},
	{"filter", "FORWARD", chainExtServices, commentNodePorts},
}

// New checks the iptables back end and installs the base chains and hooks.
func New(cfg Config) (*Proxier, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bin, err := binary(cfg.Backend)
	if err != nil {
		return nil, err
	}
	p := &Proxier{cfg: cfg, log: cfg.Logger, iptables: bin, services: make(map[types.NamespacedName]model.Service)}
	if err := p.ensureHooks(); err != nil {
		return nil, err
	}
	return p, p.sync(context.Background())
}

func binary(backend string) (string, error) {
	switch backend {
	case "", "nft":
		return "iptables-nft", nil
	case "legacy":
		return "iptables-legacy", nil
	}
	return "", fmt.Errorf("unknown iptables backend %q (want legacy or nft)", backend)
}

// ensureHooks creates the top chains and the jumps into them, once.
func (p *Proxier) ensureHooks() error {
	for _, h := range hooks {
		if err := p.run(p.iptables, "-w", "-t", h.table, "-N", h.target); err != nil && !strings.Contains(err.Error(), "exists") {
			return err
		}
		rule := []string{"-t", h.table, "-m", "comment", "--comment", h.comment, "-j", h.target}
		check := append([]string{"-w", "-C", h.chain}, rule...)
		if p.run(p.iptables, check...) == nil {
			continue
		}
		if err := p.run(p.iptables, append([]string{"-w", "-I", h.chain}, rule...)...); err != nil {
			return err
		}
	}
	return nil
}

// run runs an iptables command in the node's namespace.
func (p *Proxier) run(name string, args ...string) error {
	_, err := p.output(context.Background(), nil, name, args...)
	return err
}

func (p *Proxier) output(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	err := nsutil.Do(p.cfg.NetNS, func() error {
		cmd := exec.CommandContext(ctx, name, args...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		cmd.Stdout, cmd.Stderr = &out, &errb
		return cmd.Run()
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Replace programs exactly these services.
func (p *Proxier) Replace(ctx context.Context, svcs []model.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.services = make(map[types.NamespacedName]model.Service, len(svcs))
	for _, s := range svcs {
		p.services[s.Name] = s
	}
	return p.sync(ctx)
}

// Update applies a batch of changes with one iptables-restore (a full
// sync, like kube-proxy's): the cost of a sync does not depend on how
// many services changed, so callers batch changes (proxy.Config's
// MinSyncPeriod).
func (p *Proxier) Update(ctx context.Context, upsert []model.Service, remove []types.NamespacedName) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range remove {
		delete(p.services, name)
	}
	for _, s := range upsert {
		p.services[s.Name] = s
	}
	return p.sync(ctx)
}

// sync writes the nat and filter tables' skiff chains in one
// iptables-restore --noflush, deleting chains of services that are gone.
// The restore is atomic: when it fails, the kernel keeps the previous
// rules, and the next sync writes the whole desired state again.
func (p *Proxier) sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	existing, err := p.existingChains(ctx)
	if err != nil {
		return err
	}
	svcs := make([]model.Service, 0, len(p.services))
	for _, s := range p.services {
		svcs = append(svcs, s)
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name.String() < svcs[j].Name.String() })
	if err := p.restore(ctx, Render(svcs, p.cfg.ClusterCIDRs, existing)); err != nil {
		return fmt.Errorf("iptables-restore: %w", err)
	}
	return nil
}

// restore feeds rules to iptables-restore --noflush.
func (p *Proxier) restore(ctx context.Context, rules []byte) error {
	if p.iptables == "iptables-nft" {
		rules = fetchWholeTable(rules)
	}
	_, err := p.output(ctx, rules, p.iptables+"-restore", "-w", "--noflush")
	return err
}

// fetchWholeTable makes iptables-nft-restore --noflush read the nat table
// in one dump. Otherwise it keeps the name of every chain the input names
// in a sorted list (quadratic in the number of chains; iptables 1.8.x
// nft-cache.c) and fetches each chain and its rules with a request of its
// own: a sync of 1,000 services took 3.5 s, of 10,000 minutes. A command
// that names no chain makes it fetch the whole table at once instead; -Z,
// which zeroes the table's packet and byte counters, is the one such
// command that leaves rules and chains alone. The counters of nat rules
// count new connections only; iptables-save -c shows them since the last
// sync.
func fetchWholeTable(rules []byte) []byte {
	return bytes.Replace(rules, []byte("*nat\n"), []byte("*nat\n-Z\n"), 1)
}

// existingChains lists skiff's service chains in the nat table.
func (p *Proxier) existingChains(ctx context.Context) (map[string]bool, error) {
	out, err := p.output(ctx, nil, p.iptables+"-save", "-t", "nat")
	if err != nil {
		return nil, err
	}
	chains := make(map[string]bool)
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, ":"); ok {
			name, _, _ = strings.Cut(name, " ")
			if isServiceChain(name) {
				chains[name] = true
			}
		}
	}
	return chains, nil
}

func isServiceChain(name string) bool {
	for _, p := range []string{prefixSvc, prefixSvl, prefixExt, prefixSep} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// chainName is kube-proxy's scheme: a prefix and 16 base32 characters of
// a SHA-256 of what the chain stands for.
func chainName(prefix, what string) string {
	sum := sha256.Sum256([]byte(what))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// Render builds the iptables-restore input for the services. Chains in
// stale that the services no longer use are flushed and deleted.
func Render(svcs []model.Service, clusterCIDRs []netip.Prefix, stale map[string]bool) []byte {
	r := &renderer{used: make(map[string]bool)}
	for _, c := range []string{chainServices, chainNodePorts, chainPostrouting, chainMarkMasq} {
		r.declare(c)
	}
	r.rule("-A %s -m mark ! --mark %s -j RETURN", chainPostrouting, masqMark)
	r.rule("-A %s -j MARK --xor-mark 0x4000", chainPostrouting)
	r.rule("-A %s -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully", chainPostrouting)
	r.rule("-A %s -j MARK --or-mark 0x4000", chainMarkMasq)
	for i := range svcs {
		r.service(&svcs[i], clusterCIDRs)
	}
	r.nat.Write(r.nodePorts.Bytes())
	r.rule("-A %s -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j %s", chainServices, chainNodePorts)

	var staleNames []string
	for c := range stale {
		if !r.used[c] {
			staleNames = append(staleNames, c)
		}
	}
	sort.Strings(staleNames)
	var out bytes.Buffer
	out.WriteString("*nat\n")
	out.Write(r.chains.Bytes())
	for _, c := range staleNames {
		fmt.Fprintf(&out, ":%s - [0:0]\n", c)
	}
	out.Write(r.nat.Bytes())
	for _, c := range staleNames {
		fmt.Fprintf(&out, "-X %s\n", c)
	}
	out.WriteString("COMMIT\n*filter\n")
	fmt.Fprintf(&out, ":%s - [0:0]\n:%s - [0:0]\n", chainServices, chainExtServices)
	out.Write(r.filter.Bytes())
	out.WriteString("COMMIT\n")
	return out.Bytes()
}

type renderer struct {
	chains, nat, nodePorts, filter bytes.Buffer
	used                           map[string]bool
}

// declare adds a nat chain once; it reports whether it was new.
func (r *renderer) declare(chain string) bool {
	if r.used[chain] {
		return false
	}
	r.used[chain] = true
	fmt.Fprintf(&r.chains, ":%s - [0:0]\n", chain)
	return true
}

func (r *renderer) rule(format string, args ...any) {
	fmt.Fprintf(&r.nat, format+"\n", args...)
}

func (r *renderer) service(svc *model.Service, clusterCIDRs []netip.Prefix) {
	fronts := svc.Frontends()
	for _, f := range fronts {
		name := fmt.Sprintf("%s:%s", f.Service, f.PortName)
		proto := strings.ToLower(f.Protocol.String())
		active := activeBackends(f)
		// The chain that spreads over the frontend's active backends.
		spread := chainName(prefixSvc, name+"/"+proto)
		switch {
		case f.Kind == model.NodePort && f.ExternalLocal:
			spread = chainName(prefixSvl, name+"/"+proto)
		case f.Kind == model.NodePort && !hasClusterIP(fronts, f.PortName):
			spread = chainName(prefixSvc, name+"/"+proto+"/nodeport")
		}
		if f.Kind == model.ClusterIP {
			dst := fmt.Sprintf("-d %s/32 -p %s -m %s --dport %d", f.Addr, proto, proto, f.Port)
			if len(active) == 0 {
				fmt.Fprintf(&r.filter, "-A %s %s -m comment --comment \"%s has no endpoints\" -j REJECT\n", chainServices, dst, name)
				continue
			}
			r.declare(spread)
			r.rule("-A %s %s -m comment --comment \"%s cluster IP\" -j %s", chainServices, dst, name, spread)
			for _, c := range clusterCIDRs {
				r.rule("-A %s ! -s %s %s -m comment --comment \"%s cluster IP\" -j %s", spread, c, dst, name, chainMarkMasq)
			}
			r.spread(spread, name, proto, f, active)
			continue
		}
		dport := fmt.Sprintf("-p %s -m %s --dport %d", proto, proto, f.Port)
		if len(active) == 0 {
			verdict := "REJECT"
			if f.ExternalLocal {
				verdict = "DROP"
			}
			fmt.Fprintf(&r.filter, "-A %s -m addrtype --dst-type LOCAL %s -m comment --comment \"%s has no endpoints\" -j %s\n", chainExtServices, dport, name, verdict)
			continue
		}
		if r.declare(spread) {
			r.spread(spread, name, proto, f, active)
		}
		ext := chainName(prefixExt, name+"/"+proto)
		r.declare(ext)
		fmt.Fprintf(&r.nodePorts, "-A %s %s -m comment --comment \"%s\" -j %s\n", chainNodePorts, dport, name, ext)
		if !f.ExternalLocal {
			r.rule("-A %s -m comment --comment \"masquerade traffic for %s external destinations\" -j %s", ext, name, chainMarkMasq)
		}
		r.rule("-A %s -j %s", ext, spread)
	}
}

// spread writes a KUBE-SVC/SVL chain: affinity checks first, then one
// `statistic --mode random` jump per endpoint chain; then the endpoint
// chains that are new.
func (r *renderer) spread(chain, name, proto string, f model.Frontend, active []model.Backend) {
	seps := make([]string, len(active))
	for i, b := range active {
		seps[i] = chainName(prefixSep, name+"/"+proto+"/"+b.AddrPort().String())
	}
	affinity := int(f.AffinityTimeout.Seconds())
	if affinity > 0 {
		for i, b := range active {
			r.rule("-A %s -m comment --comment \"%s -> %s\" -m recent --name %s --rcheck --seconds %d --reap -j %s", chain, name, b.AddrPort(), seps[i], affinity, seps[i])
		}
	}
	for i, b := range active {
		if n := len(active) - i; n > 1 {
			r.rule("-A %s -m comment --comment \"%s -> %s\" -m statistic --mode random --probability %.10f -j %s", chain, name, b.AddrPort(), 1/float64(n), seps[i])
		} else {
			r.rule("-A %s -m comment --comment \"%s -> %s\" -j %s", chain, name, b.AddrPort(), seps[i])
		}
	}
	for i, b := range active {
		if !r.declare(seps[i]) {
			continue
		}
		r.rule("-A %s -m comment --comment %s -s %s/32 -j %s", seps[i], name, b.Addr, chainMarkMasq)
		recent := ""
		if affinity > 0 {
			recent = fmt.Sprintf("-m recent --name %s --set ", seps[i])
		}
		r.rule("-A %s -m comment --comment %s %s-p %s -m %s -j DNAT --to-destination %s", seps[i], name, recent, proto, proto, b.AddrPort())
	}
}

func activeBackends(f model.Frontend) []model.Backend {
	var out []model.Backend
	for _, b := range f.Backends {
		if b.State == model.Active {
			out = append(out, b)
		}
	}
	return out
}

func hasClusterIP(fronts []model.Frontend, port string) bool {
	for _, f := range fronts {
		if f.Kind == model.ClusterIP && f.PortName == port {
			return true
		}
	}
	return false
}

// Cleanup removes skiff's iptables chains and hooks from the namespace.
func Cleanup(netnsPath, backend string) error {
	bin, err := binary(backend)
	if err != nil {
		return err
	}
	p := &Proxier{cfg: Config{NetNS: netnsPath}, iptables: bin}
	var errs []error
	for _, h := range hooks {
		rule := []string{"-w", "-t", h.table, "-D", h.chain, "-m", "comment", "--comment", h.comment, "-j", h.target}
		for p.run(p.iptables, rule...) == nil {
		}
	}
	chains, err := p.existingChains(context.Background())
	if err != nil {
		return err
	}
	var in bytes.Buffer
	in.WriteString("*nat\n")
	names := []string{chainServices, chainNodePorts, chainPostrouting, chainMarkMasq}
	for c := range chains {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		fmt.Fprintf(&in, ":%s - [0:0]\n", c)
	}
	for _, c := range names {
		fmt.Fprintf(&in, "-X %s\n", c)
	}
	in.WriteString("COMMIT\n*filter\n")
	for _, c := range []string{chainServices, chainExtServices} {
		fmt.Fprintf(&in, ":%s - [0:0]\n-X %s\n", c, c)
	}
	in.WriteString("COMMIT\n")
	if err := p.restore(context.Background(), in.Bytes()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
