package threatadmin

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/threatlog"
)

// chart is the report's series as an SVG bar chart, laid out here so that the template only draws: each
// bucket a bar of its events with its listed events inside, a label under every few bars naming the
// bucket it stands under (its start, in UTC), and the count axis at 0, half and the top.
type chart struct {
	W, H, Left, Bottom int
	Bars               []bar
	XLabels, YLabels   []label
	Step               string
}

type bar struct {
	X, W             float64
	EventsY, EventsH float64
	ListedY, ListedH float64
	Title            string
}

type label struct {
	X, Y float64
	Text string
}

const (
	chartW, chartH = 480, 200
	chartLeft      = 40 // room for the counts
	chartBottom    = 36 // room for the dates
	chartTop       = 10
	chartLabels    = 5 // at most, under the bars
)

func chartOf(rep *threatlog.Report) chart {
	c := chart{W: chartW, H: chartH, Left: chartLeft, Bottom: chartH - chartBottom, Step: rep.Step}
	n := len(rep.Series)
	if n == 0 {
		return c
	}
	top := 0
	for _, b := range rep.Series {
		top = max(top, b.Events)
	}
	if top == 0 {
		top = 1
	}
	plotH := float64(c.Bottom - chartTop)
	slot := float64(chartW-chartLeft-8) / float64(n)
	format := "Jan 2"
	if rep.Step == "hour" {
		format = "Jan 2 15h"
	}
	every := (n + chartLabels - 1) / chartLabels
	for i, b := range rep.Series {
		x := float64(chartLeft) + float64(i)*slot
		eh := plotH * float64(b.Events) / float64(top)
		lh := plotH * float64(b.Listed) / float64(top)
		c.Bars = append(c.Bars, bar{X: x + slot*0.1, W: slot * 0.8, EventsY: float64(c.Bottom) - eh, EventsH: eh, ListedY: float64(c.Bottom) - lh, ListedH: lh,
			Title: fmt.Sprintf("%s: %d events, %d listed", b.Start.UTC().Format(format), b.Events, b.Listed)})
		if i%every == 0 {
			c.XLabels = append(c.XLabels, label{X: x + slot/2, Y: float64(c.Bottom) + 16, Text: b.Start.UTC().Format(format)})
		}
	}
	for _, f := range []int{0, 1, 2} {
		v := top * f / 2
		c.YLabels = append(c.YLabels, label{X: chartLeft - 6, Y: float64(c.Bottom) - plotH*float64(v)/float64(top) + 4, Text: fmt.Sprint(v)})
	}
	return c
}
