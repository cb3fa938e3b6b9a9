package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testChart() BarChart {
	return BarChart{
		Title: "ops <per> second", YLabel: "ops/s", Groups: []string{"1", "10", "100"},
		Series: []BarSeries{
			{Name: "etcd put", Values: []float64{2300, 15000, 20500}, Low: []float64{2200, 14000, 19000}, High: []float64{2400, 16000, 21000}},
			{Name: "API create", Values: []float64{900, math.NaN(), 8000}},
		},
	}
}

func TestBarChartIsWellFormedSVG(t *testing.T) {
	svg := testChart().SVG()
	d := xml.NewDecoder(bytes.NewReader(svg))
	rects := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("invalid SVG: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + 5 bars (one NaN left out) + 2 legend keys
	if rects != 8 {
		t.Errorf("got %d rects, want 8", rects)
	}
	if !bytes.Contains(svg, []byte("ops &lt;per&gt; second")) {
		t.Error("title not escaped")
	}
	if !bytes.Contains(svg, []byte(">25,000<")) {
		t.Errorf("y axis does not reach 25,000:\n%s", svg)
	}
}

func TestLogBarChart(t *testing.T) {
	c := testChart()
	c.Log = true
	svg := c.SVG()
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("invalid SVG: %v", err)
	}
	// Values span 900 to 21,000: decades from 100 to 100,000.
	for _, want := range []string{">100<", ">1,000<", ">10,000<", ">100,000<"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("log axis lacks tick %s", want)
		}
	}
	if bytes.Contains(svg, []byte(">25,000<")) {
		t.Error("log axis has a linear tick")
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{20512.4: "20,512", 1234567: "1,234,567", 512.3: "512", 51.23: "51.2", 0.512: "0.51", -4321: "-4,321", 10: "10", 0: "0"} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	r := &Report{
		Title: "skiff benchmarks", Generated: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Command: "make bench",
		Machine: Machine{CPUs: 2, CPU: "Test CPU", Kernel: "6.18"},
		Suites: []Suite{{
			Name: "api", Title: "API", Duration: time.Minute,
			Sections: []Section{{
				Title: "Throughput", Text: "Some text.",
				Tables:  []Table{{Header: []string{"op", "ops/s"}, Rows: [][]string{{"create|update", "1,000"}}, Notes: []string{"a note"}}},
				Figures: []Figure{{Name: "throughput", Caption: "Throughput", SVG: testChart().SVG()}},
				Data:    map[string]float64{"create": 1000},
			}},
		}, {Name: "sched", Title: "Scheduler", Error: "boom"}},
	}
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# skiff benchmarks", "## API", "### Throughput", "| op | ops/s |", `| create\|update | 1,000 |`,
		"a note", "![Throughput](api-throughput.svg)", "- [Scheduler](#scheduler)", "**The suite failed:** `boom`"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "api-throughput.svg")); err != nil {
		t.Error(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Suites []struct {
			Sections []struct {
				Data    map[string]float64
				Figures []struct{ File string }
			}
		}
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Suites[0].Sections[0]; got.Data["create"] != 1000 || got.Figures[0].File != "api-throughput.svg" {
		t.Errorf("results.json section = %+v", got)
	}
}
