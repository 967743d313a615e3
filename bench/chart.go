package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartWidth   = 860
	panelHeight  = 300
	plotLeft     = 70
	plotRight    = 560 // the legend sits to its right
	plotTop      = 40
	plotBottom   = 260
	legendLeft   = 580
	legendLineDy = 18
)

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

var chartPercentiles = []struct {
	label string
	get   func(Summary) time.Duration
}{
	{"p50", func(s Summary) time.Duration { return s.P50 }},
	{"p90", func(s Summary) time.Duration { return s.P90 }},
	{"p99", func(s Summary) time.Duration { return s.P99 }},
	{"p99.9", func(s Summary) time.Duration { return s.P999 }},
	{"max", func(s Summary) time.Duration { return s.Max }},
}

// WriteChart writes an SVG of the latency percentiles: one panel per table
// and concurrency, one line per row on a logarithmic axis; baselines and
// the broker without WAL are dashed.
func (rep *Report) WriteChart(w io.Writer) error {
	var panels [][]Result
	for _, table := range groupRows(rep.Summary()) {
		if table[0].Latency.Count == 0 {
			continue // replay has no per-operation latency
		}
		start := 0
		for i := 1; i <= len(table); i++ {
			if i == len(table) || table[i].Concurrency != table[start].Concurrency {
				panels = append(panels, table[start:i])
				start = i
			}
		}
	}
	var b strings.Builder
	height := max(1, len(panels)) * panelHeight
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	if len(panels) == 0 {
		fmt.Fprintf(&b, `<text x="20" y="40">no latency rows in this run</text>`+"\n")
	}
	for i, p := range panels {
		writePanel(&b, p, i*panelHeight)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writePanel(b *strings.Builder, rows []Result, y0 int) {
	r0 := rows[0]
	who := map[bool]string{true: "writer", false: "writers"}[r0.Concurrency == 1]
	title := fmt.Sprintf("%s, sync=%s, %d B, batch %d, %d %s", r0.Workload, r0.Sync, r0.Size, r0.Batch, r0.Concurrency, who)
	if r0.Workload == WorkloadBroker || r0.Workload == WorkloadBrokerHTTP {
		who = map[bool]string{true: "client", false: "clients"}[r0.Concurrency == 1]
		over := map[bool]string{true: " over HTTP", false: ""}[r0.Workload == WorkloadBrokerHTTP]
		title = fmt.Sprintf("broker request%s, WAL sync=%s, SQLite store, %d %s", over, r0.Sync, r0.Concurrency, who)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, y0+22, html.EscapeString(title))

	// The y axis spans whole decades around every plotted value.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		for _, p := range chartPercentiles {
			if v := float64(p.get(r.Latency)); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi == dLo {
		dHi++
	}
	yOf := func(ns float64) float64 {
		f := (math.Log10(ns) - dLo) / (dHi - dLo)
		return float64(y0+plotBottom) - f*float64(plotBottom-plotTop)
	}
	xOf := func(i int) float64 {
		return plotLeft + 20 + float64(i)*float64(plotRight-plotLeft-40)/float64(len(chartPercentiles)-1)
	}
	for d := dLo; d <= dHi; d++ {
		y := yOf(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+4,
			html.EscapeString(fmtDuration(time.Duration(math.Pow(10, d)))))
	}
	for i, p := range chartPercentiles {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xOf(i), y0+plotBottom+18, p.label)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n",
		plotLeft, y0+plotTop, plotRight-plotLeft, plotBottom-plotTop)

	for i, r := range rows {
		color := chartColors[i%len(chartColors)]
		dash := ""
		if r.Baseline || r.Backend == NoWAL {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for j, p := range chartPercentiles {
			if v := float64(p.get(r.Latency)); v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(j), yOf(v)))
			}
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), color, dash)
		for _, pt := range pts {
			xy := strings.Split(pt, ",")
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], color)
		}
		ly := y0 + plotTop + 10 + i*legendLineDy
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n",
			legendLeft, ly, legendLeft+24, ly, color, dash)
		name := r.Backend
		if r.Mode != "" {
			name += " " + r.Mode
		}
		fmt.Fprintf(b, `<text x="%d" y="%d">%s p50 %s</text>`+"\n", legendLeft+30, ly+4,
			html.EscapeString(name), html.EscapeString(fmtDuration(r.Latency.P50)))
	}
}
