package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"skiff.dev/skiff/dataplane/iptables"
	"skiff.dev/skiff/dataplane/model"
)

// saveRules is iptables-save of the node: taken after the dataplane
// started and before it programmed any service, it holds the dataplane's
// jumps from the built-in chains and little else.
func saveRules(ctx context.Context, ns netNS, backend string) ([]byte, error) {
	return iptablesCmd(ctx, ns, "iptables-"+backend+"-save", nil)
}

// restoreAll loads the services' rules as the brief's iptables reference
// did: one iptables-restore, without --noflush, of the whole nat and
// filter tables. The rules are the dataplane's own (iptables.Render); the
// jumps into them from the built-in chains are those in saved (see
// saveRules), so the ruleset is the one the dataplane's sync writes. It
// returns the time from the desired services to iptables-restore's return.
func restoreAll(ctx context.Context, ns netNS, backend string, saved []byte, svcs []model.Service) (time.Duration, error) {
	start := time.Now()
	in := mergeRules(parseRules(saved), parseRules(iptables.Render(svcs, nil, nil)))
	if _, err := iptablesCmd(ctx, ns, "iptables-"+backend+"-restore", in, "-w"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// iptablesVersion is what `iptables-nft --version` prints, for the report.
func iptablesVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "iptables-nft", "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func iptablesCmd(ctx context.Context, ns netNS, name string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	if err := inNetNS(ns.path, cmd.Start); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// ruleTable is one table of iptables-save/restore text.
type ruleTable struct {
	name          string
	chains, rules []string
}

// parseRules splits iptables-save/restore text into its tables.
func parseRules(text []byte) []*ruleTable {
	var out []*ruleTable
	var cur *ruleTable
	for line := range strings.Lines(string(text)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "*"):
			cur = &ruleTable{name: line[1:]}
			out = append(out, cur)
		case cur == nil || line == "COMMIT" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, ":"):
			cur.chains = append(cur.chains, line)
		default:
			cur.rules = append(cur.rules, line)
		}
	}
	return out
}

// mergeRules writes each table of rules, preceded by the built-in chains
// of the same table in saved and the jumps from them.
func mergeRules(saved, rules []*ruleTable) []byte {
	var b bytes.Buffer
	for _, t := range rules {
		var builtins, hooks []string
		for _, s := range saved {
			if s.name != t.name {
				continue
			}
			isBuiltin := map[string]bool{}
			for _, c := range s.chains {
				if f := strings.Fields(c); len(f) >= 2 && f[1] != "-" { // ":PREROUTING ACCEPT [0:0]"
					builtins = append(builtins, c)
					isBuiltin[strings.TrimPrefix(f[0], ":")] = true
				}
			}
			for _, r := range s.rules {
				if f := strings.Fields(r); len(f) >= 2 && f[0] == "-A" && isBuiltin[f[1]] {
					hooks = append(hooks, r)
				}
			}
		}
		fmt.Fprintf(&b, "*%s\n", t.name)
		for _, part := range [][]string{builtins, t.chains, hooks, t.rules} {
			for _, l := range part {
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.Bytes()
}
