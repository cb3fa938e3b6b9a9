package report

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// BarChart is a grouped bar chart: one group per category on the x axis,
// one bar per series in each group, with optional whiskers.
type BarChart struct {
	Title  string
	YLabel string
	// Groups name the categories on the x axis.
	Groups []string
	Series []BarSeries
	// Log draws the y axis in powers of ten, for values that span decades.
	Log bool
}

// BarSeries is one colour of bars. Values has one entry per group; NaN
// leaves the group's bar out. Low and High, when set, draw a whisker (the
// spread across rounds).
type BarSeries struct {
	Name      string
	Values    []float64
	Low, High []float64
}

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"}

// SVG renders the chart.
func (c BarChart) SVG() []byte {
	const (
		width, height          = 760.0, 400.0
		left, right, top, foot = 80.0, 180.0, 40.0, 50.0
	)
	plotW, plotH := width-left-right, height-top-foot
	ymax, ymin := 0.0, math.Inf(1)
	for _, s := range c.Series {
		for i, v := range s.Values {
			ymax = maxFinite(ymax, v)
			if v > 0 {
				ymin = math.Min(ymin, v)
			}
			if i < len(s.High) {
				ymax = maxFinite(ymax, s.High[i])
			}
			if i < len(s.Low) && s.Low[i] > 0 {
				ymin = math.Min(ymin, s.Low[i])
			}
		}
	}
	var ticks []float64
	var y func(v float64) float64
	if c.Log && ymax > 0 {
		lo := math.Pow(10, math.Floor(math.Log10(ymin)))
		hi := math.Pow(10, math.Ceil(math.Log10(ymax)))
		if hi <= lo {
			hi = lo * 10
		}
		for v := lo; v <= hi*1.0001; v *= 10 {
			ticks = append(ticks, v)
		}
		y = func(v float64) float64 {
			v = math.Max(v, lo)
			return top + plotH*(1-math.Log10(v/lo)/math.Log10(hi/lo))
		}
	} else {
		step := niceStep(ymax / 5)
		hi := step * math.Ceil(ymax/step)
		if hi == 0 {
			hi = 1
		}
		for v := 0.0; v <= hi*1.0001; v += step {
			ticks = append(ticks, v)
		}
		y = func(v float64) float64 { return top + plotH*(1-v/hi) }
	}
	base := y(ticks[0])

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))
	for _, v := range ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, esc(FormatNumber(v)))
	}
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+plotH/2, esc(c.YLabel))
	groupW := plotW / float64(max(len(c.Groups), 1))
	barW := groupW * 0.8 / float64(max(len(c.Series), 1))
	for g, name := range c.Groups {
		gx := left + groupW*float64(g)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", gx+groupW/2, top+plotH+18, esc(name))
		for si, s := range c.Series {
			if g >= len(s.Values) || math.IsNaN(s.Values[g]) {
				continue
			}
			x := gx + groupW*0.1 + barW*float64(si)
			v := s.Values[g]
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x, y(v), barW*0.92, base-y(v), palette[si%len(palette)], esc(s.Name), esc(FormatNumber(v)))
			if g < len(s.Low) && g < len(s.High) && !math.IsNaN(s.Low[g]) && !math.IsNaN(s.High[g]) {
				cx := x + barW*0.46
				fmt.Fprintf(&b, `<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f" stroke="black" fill="none"/>`+"\n",
					cx, y(s.Low[g]), y(s.High[g]), cx-3, y(s.Low[g]), cx+3, cx-3, y(s.High[g]), cx+3)
			}
		}
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, left+plotW, base, base)
	for si, s := range c.Series {
		ly := top + 10 + 20*float64(si)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", left+plotW+14, ly-10, palette[si%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+plotW+32, ly, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func maxFinite(a, b float64) float64 {
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return a
	}
	return math.Max(a, b)
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// FormatNumber prints v compactly: thousands separated, few decimals for
// small values.
func FormatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func groupThousands(s string) string {
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

func esc(s string) string { return html.EscapeString(s) }
