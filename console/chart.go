package console

import (
	"fmt"
	"sort"
	"time"
)

// point is one event on the chart: its time and its series.
type point struct {
	t      time.Time
	series string
}

// chart is the SVG chart's drawing, computed here so that the template
// only places shapes.
type chart struct {
	Width, Height int
	Empty         bool
	Note          string
	Bars          []bar
	Ticks         []tick
	MaxLabel      string
	Legend        []legendItem
	PlotTop       int
	PlotBottom    int
	PlotLeft      int
	PlotRight     int
}

type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type tick struct {
	X     float64
	Label string
}

type legendItem struct {
	X, Y  int
	Color string
	Label string
}

// palette colours the series; the last is for "Other".
var palette = []string{"#2f6fbd", "#e07b1a", "#3a9a5b", "#b8434b", "#7b5fb0", "#8a8f98"}

// steps are the bucket widths a chart picks from: the smallest that
// makes at most maxBuckets bars.
var steps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

const maxBuckets = 60

// drawChart counts points per interval between start and end, stacked by
// series (the five largest, then Other). A zero start means the oldest
// point. capped says the points are only the newest of the range.
func drawChart(points []point, start, end time.Time, capped bool) *chart {
	ch := &chart{Width: 760, Height: 200, PlotLeft: 44, PlotRight: 750, PlotTop: 12, PlotBottom: 150}
	if len(points) == 0 {
		ch.Empty = true
		return ch
	}
	oldest := points[len(points)-1].t
	for _, p := range points {
		if p.t.Before(oldest) {
			oldest = p.t
		}
	}
	switch {
	case start.IsZero():
		// The whole history: from the oldest event, at least an hour.
		start = oldest
		if end.Sub(start) < time.Hour {
			start = end.Add(-time.Hour)
		}
	case capped && oldest.After(start):
		start = oldest
	}
	if capped {
		ch.Note = fmt.Sprintf("the newest %d events", len(points))
	}
	if !end.After(start) {
		end = start.Add(time.Minute)
	}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if end.Sub(start)/s < maxBuckets {
			step = s
			break
		}
	}
	first := start.Truncate(step)
	n := int(end.Sub(first)/step) + 1

	// The series, largest first.
	totals := map[string]int{}
	for _, p := range points {
		totals[p.series]++
	}
	names := make([]string, 0, len(totals))
	for s := range totals {
		names = append(names, s)
	}
	sort.Slice(names, func(i, j int) bool {
		if totals[names[i]] != totals[names[j]] {
			return totals[names[i]] > totals[names[j]]
		}
		return names[i] < names[j]
	})
	index := map[string]int{}
	for i, s := range names {
		index[s] = min(i, len(palette)-1)
	}
	shown := names
	if len(names) > len(palette)-1 {
		shown = append(names[:len(palette)-1:len(palette)-1], "Other")
	}
	counts := make([][]int, n)
	for i := range counts {
		counts[i] = make([]int, len(shown))
	}
	for _, p := range points {
		b := int(p.t.Sub(first) / step)
		if b < 0 || b >= n {
			continue
		}
		counts[b][index[p.series]]++
	}
	peak := 1
	for _, cs := range counts {
		sum := 0
		for _, c := range cs {
			sum += c
		}
		peak = max(peak, sum)
	}
	plotW := float64(ch.PlotRight - ch.PlotLeft)
	plotH := float64(ch.PlotBottom - ch.PlotTop)
	w := plotW / float64(n)
	for b, cs := range counts {
		y := float64(ch.PlotBottom)
		for si, c := range cs {
			if c == 0 {
				continue
			}
			h := plotH * float64(c) / float64(peak)
			y -= h
			ch.Bars = append(ch.Bars, bar{X: float64(ch.PlotLeft) + float64(b)*w + 0.5, Y: y, W: max(w-1, 1), H: h,
				Color: palette[si], Title: fmt.Sprintf("%s: %d at %s", shown[si], c, first.Add(time.Duration(b)*step).UTC().Format("2006-01-02 15:04"))})
		}
	}
	ch.MaxLabel = fmt.Sprint(peak)
	layout := "15:04"
	if end.Sub(first) > 24*time.Hour {
		layout = "Jan 2"
		if step < 24*time.Hour {
			layout = "Jan 2 15:04"
		}
	}
	for _, b := range []int{0, n / 2, n - 1} {
		if b == n/2 && (n < 3) {
			continue
		}
		ch.Ticks = append(ch.Ticks, tick{X: float64(ch.PlotLeft) + float64(b)*w, Label: first.Add(time.Duration(b) * step).UTC().Format(layout)})
	}
	x, y := ch.PlotLeft, ch.PlotBottom+36
	for i, s := range shown {
		label := fmt.Sprintf("%s (%d)", s, totals[s])
		if s == "Other" {
			rest := 0
			for _, o := range names[len(palette)-1:] {
				rest += totals[o]
			}
			label = fmt.Sprintf("Other (%d)", rest)
		}
		width := 24 + 7*len([]rune(label))
		if x+width > ch.PlotRight {
			x, y = ch.PlotLeft, y+16
		}
		ch.Legend = append(ch.Legend, legendItem{X: x, Y: y, Color: palette[i], Label: label})
		x += width
	}
	ch.Height = y + 12
	return ch
}
