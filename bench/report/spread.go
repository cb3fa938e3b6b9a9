package report

import (
	"fmt"

	"skiff.dev/skiff/bench/stats"
)

// FormatSpread prints a spread as "median (min–max)": "–" when it has no
// rounds and the median alone when it has one.
func FormatSpread(s stats.Spread) string {
	switch len(s.Rounds) {
	case 0:
		return "–"
	case 1:
		return FormatNumber(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", FormatNumber(s.Median), FormatNumber(s.Min), FormatNumber(s.Max))
}

// ErrorsSection is a section titled "Errors" with a one-column table of
// errs, one a row.
func ErrorsSection(errs []string) Section {
	t := Table{Header: []string{"error"}}
	for _, e := range errs {
		t.Rows = append(t.Rows, []string{e})
	}
	return Section{Title: "Errors", Tables: []Table{t}}
}
