package status

import (
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/run"
)

// Geometry of the step timeline, in SVG user units.
const (
	chartWidth  = 960
	chartLabelW = 110 // the step names' column
	chartRight  = 16  // room after the plot
	chartRowH   = 30
	chartBarH   = 18
	chartTop    = 8
	chartAxisH  = 26
	// labelRoom is how much room a bar's label needs after the bar's end;
	// with less, the label goes inside the bar.
	labelRoom = 250
)

// chart is the step timeline: one bar per step, from when it started to when
// it finished (or now, while it runs), on a time axis from the run's creation.
type chart struct {
	Width, Height int
	PlotX, PlotW  int
	AxisY         int
	Bars          []bar
	Ticks         []tick
}

type bar struct {
	Step, Status string
	Y, TextY     int
	X, W         string // formatted user units
	// Drawn: the step has started; pending steps have no bar.
	Drawn bool
	// Label is "3 attempts · 2 segments · 217ms"; Inside puts it in the bar.
	Label  string
	LabelX string
	Inside bool
	Title  string
}

type tick struct {
	X, Label string
	// Anchor aligns the label: the first starts at its tick and the last
	// ends at it, so neither leaves the chart.
	Anchor string
}

func newChart(r *run.Run, now time.Time) chart {
	plotW := chartWidth - chartLabelW - chartRight
	c := chart{
		Width: chartWidth, PlotX: chartLabelW, PlotW: plotW,
		AxisY:  chartTop + len(r.Steps)*chartRowH,
		Height: chartTop + len(r.Steps)*chartRowH + chartAxisH,
	}
	t0, t1 := r.CreatedAt, r.FinishedAt
	if t1.IsZero() || r.Status == run.Running {
		t1 = now
	}
	for _, st := range r.Steps {
		if !st.StartedAt.IsZero() && st.StartedAt.Before(t0) {
			t0 = st.StartedAt
		}
		if st.FinishedAt.After(t1) {
			t1 = st.FinishedAt
		}
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(t time.Time) float64 {
		return chartLabelW + float64(t.Sub(t0))/float64(span)*float64(plotW)
	}
	for i, st := range r.Steps {
		y := chartTop + i*chartRowH + (chartRowH-chartBarH)/2
		b := bar{Step: st.Name, Status: string(st.Status), Y: y, TextY: y + chartBarH/2 + 4}
		d, started := stepSpan(st, now)
		if !started {
			b.Label, b.LabelX = string(st.Status), fmtUnits(chartLabelW+6)
			c.Bars = append(c.Bars, b)
			continue
		}
		end := st.FinishedAt
		if end.IsZero() {
			end = now
		}
		x0, x1 := x(st.StartedAt), x(end)
		w := max(x1-x0, 2) // a step of a few milliseconds stays visible
		b.Drawn, b.X, b.W = true, fmtUnits(x0), fmtUnits(w)
		b.Label = stepLabel(st, d)
		b.Title = fmt.Sprintf("%s: %s, %s (%s → %s)", st.Name, st.Status, b.Label, fmtTime(st.StartedAt), fmtTime(st.FinishedAt))
		if x0+w+labelRoom <= chartWidth {
			b.LabelX = fmtUnits(x0 + w + 6)
		} else {
			b.Inside, b.LabelX = true, fmtUnits(x0+w-6)
		}
		c.Bars = append(c.Bars, b)
	}
	for i := range 5 {
		f := float64(i) / 4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		c.Ticks = append(c.Ticks, tick{
			X:      fmtUnits(chartLabelW + f*float64(plotW)),
			Label:  "+" + fmtDuration(time.Duration(f*float64(span))),
			Anchor: anchor,
		})
	}
	return c
}

// stepLabel says how a step went: "3 attempts · 2 segments · 217ms".
func stepLabel(st *run.StepState, d time.Duration) string {
	s := plural(st.Attempts, "attempt")
	if st.Segments > 0 {
		s += " · " + plural(st.Segments, "segment")
	}
	s += " · " + fmtDuration(d)
	if st.Status == run.StepRunning {
		s += " so far"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func fmtUnits(v float64) string { return fmt.Sprintf("%.1f", v) }
