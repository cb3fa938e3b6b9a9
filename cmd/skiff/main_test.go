package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command builds and prints its help (a flag defined twice along a
// command's path panics here rather than in a user's hands).
func TestEveryCommandHasHelp(t *testing.T) {
	root := newRootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append(strings.Fields(c.CommandPath())[1:], "--help"))
		if err := root.Execute(); err != nil {
			t.Errorf("%s --help: %v", c.CommandPath(), err)
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s --help printed no usage", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestParsePortRange(t *testing.T) {
	for in, want := range map[string][2]int{"30000-32767": {30000, 2768}, "80-80": {80, 1}} {
		base, size, err := parsePortRange(in)
		if err != nil || base != want[0] || size != want[1] {
			t.Errorf("%s: %d %d %v, want %v", in, base, size, err, want)
		}
	}
	for _, bad := range []string{"30000", "2-1", "0-10", "1-70000", "a-b"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestDataplaneRunRejectsBadFlags(t *testing.T) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"dataplane", "run", "--proxy-mode", "ipvs", "--node-name", "n"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), `--proxy-mode "ipvs": want auto, ebpf or iptables`) {
		t.Fatalf("got %v", err)
	}
}
