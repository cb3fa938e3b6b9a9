// Package report is the benchmark report: suites fill in sections of
// Markdown text, tables and figures, and the report is written as a
// Markdown README, a JSON file of the same results and SVG figures.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is one run of the benchmarks.
type Report struct {
	Title     string        `json:"title"`
	Generated time.Time     `json:"generated"`
	Command   string        `json:"command"`
	Machine   Machine       `json:"machine"`
	Duration  time.Duration `json:"duration_ns"`
	Suites    []Suite       `json:"suites"`
}

// Machine describes where the benchmarks ran.
type Machine struct {
	CPU         string `json:"cpu"`
	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	Commit      string `json:"commit"`
	// LoadBefore and LoadAfter are /proc/loadavg at the start and end: the
	// machine is shared, so a busy neighbour shows here.
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

// Suite is the part of the report one benchmark suite produced.
type Suite struct {
	Name     string        `json:"name"`
	Title    string        `json:"title"`
	Duration time.Duration `json:"duration_ns"`
	// Error is set when the suite failed; its sections may be partial.
	Error    string    `json:"error,omitempty"`
	Sections []Section `json:"sections"`
}

// Section is a titled part of a suite's report.
type Section struct {
	Title string `json:"title"`
	// Text is Markdown shown before the tables.
	Text    string   `json:"text,omitempty"`
	Tables  []Table  `json:"tables,omitempty"`
	Figures []Figure `json:"figures,omitempty"`
	// Data is the section's machine-readable results for the JSON file.
	Data any `json:"data,omitempty"`
}

// Table is a Markdown table.
type Table struct {
	Caption string     `json:"caption,omitempty"`
	Header  []string   `json:"header"`
	Rows    [][]string `json:"rows"`
	// Notes are Markdown lines shown under the table.
	Notes []string `json:"notes,omitempty"`
}

// Figure is an SVG picture written beside the report.
type Figure struct {
	// Name is the file's stem, unique within the suite.
	Name    string `json:"-"`
	Caption string `json:"caption"`
	SVG     []byte `json:"-"`
	// File is the written file's name, set by Write.
	File string `json:"file"`
}

// Write writes the report into dir: README.md, results.json and the
// figures as <suite>-<name>.svg.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	for si := range r.Suites {
		s := &r.Suites[si]
		for xi := range s.Sections {
			for fi := range s.Sections[xi].Figures {
				f := &s.Sections[xi].Figures[fi]
				f.File = s.Name + "-" + f.Name + ".svg"
				if err := os.WriteFile(filepath.Join(dir, f.File), f.SVG, 0o644); err != nil {
					return fmt.Errorf("write figure: %w", err)
				}
			}
		}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), Markdown(r), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Markdown renders the report. Figures are linked by their File names.
func Markdown(r *Report) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	m := r.Machine
	fmt.Fprintf(&b, "Generated %s by `%s` in %s. Figures are reported, never asserted.\n\n",
		r.Generated.UTC().Format("2006-01-02 15:04 MST"), r.Command, r.Duration.Round(time.Second))
	fmt.Fprintf(&b, "| machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %d x %s |\n| memory | %.1f GiB |\n| kernel | %s |\n| Go | %s |\n| commit | %s |\n| load average before / after | %s / %s |\n\n",
		m.CPUs, cell(m.CPU), float64(m.MemoryBytes)/(1<<30), cell(m.Kernel), m.GoVersion, cell(m.Commit), cell(m.LoadBefore), cell(m.LoadAfter))
	if len(r.Suites) > 1 {
		b.WriteString("Suites:\n\n")
		for _, s := range r.Suites {
			fmt.Fprintf(&b, "- [%s](#%s)\n", s.Title, anchor(s.Title))
		}
		b.WriteString("\n")
	}
	for _, s := range r.Suites {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		fmt.Fprintf(&b, "Suite `%s`, %s.\n\n", s.Name, s.Duration.Round(time.Second))
		if s.Error != "" {
			fmt.Fprintf(&b, "**The suite failed:** `%s`\n\n", s.Error)
		}
		for _, x := range s.Sections {
			writeSection(&b, x)
		}
	}
	return b.Bytes()
}

func writeSection(b *bytes.Buffer, x Section) {
	fmt.Fprintf(b, "### %s\n\n", x.Title)
	if t := strings.TrimSpace(x.Text); t != "" {
		b.WriteString(t + "\n\n")
	}
	for _, t := range x.Tables {
		if t.Caption != "" {
			fmt.Fprintf(b, "%s\n\n", t.Caption)
		}
		writeRow(b, t.Header)
		sep := make([]string, len(t.Header))
		for i := range sep {
			sep[i] = "---"
		}
		writeRow(b, sep)
		for _, r := range t.Rows {
			writeRow(b, r)
		}
		b.WriteString("\n")
		for _, n := range t.Notes {
			b.WriteString(n + "\n")
		}
		if len(t.Notes) > 0 {
			b.WriteString("\n")
		}
	}
	for _, f := range x.Figures {
		fmt.Fprintf(b, "![%s](%s)\n\n", cell(f.Caption), f.File)
	}
}

func writeRow(b *bytes.Buffer, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + cell(c) + " |")
	}
	b.WriteString("\n")
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// anchor is GitHub's heading anchor for a title.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ' || r == '-':
			b.WriteRune('-')
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		}
	}
	return b.String()
}
