package threatlog

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// The HTML report: one self-contained page (inline CSS and SVG, no script, no external asset), so it
// can be saved, mailed or printed as it is.

type bar struct {
	X, Y, W, H, LY, LH float64 // all events; listed events from LY with height LH
	Label, Title       string
}

type page struct {
	*Report
	Bars          []bar
	Width, Height int
	Max           int
	Ticks         []tick
}

type tick struct {
	X     float64
	Label string
}

const chartW, chartH = 900, 220

func renderHTML(w io.Writer, rep *Report) {
	p := page{Report: rep, Width: chartW, Height: chartH + 30}
	for _, b := range rep.Series {
		p.Max = max(p.Max, b.Events)
	}
	n := len(rep.Series)
	if n > 0 {
		bw := float64(chartW) / float64(n)
		layout, every := "15h", max(1, n/12)
		if rep.Step == "day" {
			layout = "Jan 2"
		}
		for i, b := range rep.Series {
			x := float64(i) * bw
			h, lh := 0.0, 0.0
			if p.Max > 0 {
				h = float64(b.Events) / float64(p.Max) * chartH
				lh = float64(b.Listed) / float64(p.Max) * chartH
			}
			p.Bars = append(p.Bars, bar{X: x + 0.5, W: max(bw-1, 0.5), Y: chartH - h, H: h, LY: chartH - lh, LH: lh,
				Title: fmt.Sprintf("%s: %d events, %d listed", b.Start.Format(time.RFC3339), b.Events, b.Listed)})
			if i%every == 0 {
				p.Ticks = append(p.Ticks, tick{X: x, Label: b.Start.Format(layout)})
			}
		}
	}
	if err := reportTmpl.Execute(w, p); err != nil {
		log.Errorf("HTML report: %v", err)
	}
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>threatlog report: {{.Policy}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 2em 1.5em 0;display:inline-table;vertical-align:top}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.all{fill:#b8c4d6}.listed{fill:#c0392b}
</style></head><body>
<h1>Policy {{.Policy}}</h1>
<p>{{ts .From}} to {{ts .To}}: <b>{{.Events}}</b> events, <b>{{.Listed}}</b> to or from listed addresses and names
({{.Blocked}} blocked, {{.Passed}} let through; {{.Inbound}} inbound, {{.Outbound}} outbound), {{.Allowed}} allowed by the policy.</p>
<h2>Per {{.Step}}</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="events per {{.Step}}">
{{range .Bars}}<g><title>{{.Title}}</title><rect class="all" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"/><rect class="listed" x="{{.X}}" y="{{.LY}}" width="{{.W}}" height="{{.LH}}"/></g>
{{end}}<line x1="0" y1="220" x2="900" y2="220" stroke="#888"/>
{{range .Ticks}}<text x="{{.X}}" y="240" font-size="11">{{.Label}}</text>
{{end}}<text x="4" y="12" font-size="11">max {{.Max}}</text>
</svg>
<p><svg width="10" height="10"><rect class="listed" width="10" height="10"/></svg> listed
<svg width="10" height="10"><rect class="all" width="10" height="10"/></svg> all events</p>
<table><caption>Lists</caption><tr><th>list</th><th>hits</th></tr>
{{range .Lists}}<tr><td>{{.Name}}</td><td class="n">{{.Hits}}</td></tr>{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>
<table><caption>Categories</caption><tr><th>category</th><th>hits</th></tr>
{{range .Categories}}<tr><td>{{.Name}}</td><td class="n">{{.Hits}}</td></tr>{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>
<table><caption>Devices</caption><tr><th>device</th><th>events</th></tr>
{{range .Devices}}<tr><td>{{.Name}}</td><td class="n">{{.Hits}}</td></tr>{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>
<h2>Top listed remotes</h2>
<table><tr><th>remote</th><th>hits</th><th>lists</th></tr>
{{range .Top}}<tr><td>{{.Remote}}</td><td class="n">{{.Hits}}</td><td>{{range $i, $l := .Lists}}{{if $i}}, {{end}}{{$l}}{{end}}</td></tr>{{else}}<tr><td colspan="3">none</td></tr>{{end}}</table>
<h2>Likely infected inside hosts</h2>
<p>Inside hosts with at least {{.Threshold}} outbound contacts with listed destinations.</p>
<table><tr><th>inside</th><th>contacts</th><th>destinations</th><th>last</th></tr>
{{range .Infected}}<tr><td>{{.Inside}}</td><td class="n">{{.Contacts}}</td><td class="n">{{.Destinations}}</td><td>{{ts .Last}}</td></tr>{{else}}<tr><td colspan="4">none</td></tr>{{end}}</table>
</body></html>
`))
