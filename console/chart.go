package console

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// counts is the API's count of the events of a filter per time bucket
// (its histogram endpoint), split into series.
type counts struct {
	Start   time.Time
	Step    time.Duration
	Buckets int
	Series  []countSeries
	// Since, when not zero, says only the events at or after it were
	// counted: the count stopped at its limit.
	Since time.Time
}

type countSeries struct {
	Name   string  `json:"name"`
	Counts []int64 `json:"counts"`
}

// decodeCounts reads the histogram endpoint's answer.
func decodeCounts(r io.Reader) (*counts, error) {
	var v struct {
		Start   time.Time     `json:"start"`
		Step    int64         `json:"step"`
		Buckets int           `json:"buckets"`
		Series  []countSeries `json:"series"`
		Since   *time.Time    `json:"since"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 8<<20)).Decode(&v); err != nil {
		return nil, err
	}
	if v.Step <= 0 || v.Buckets < 1 || v.Buckets > 1000 {
		return nil, fmt.Errorf("chart: %d buckets of %d s", v.Buckets, v.Step)
	}
	h := &counts{Start: v.Start.UTC(), Step: time.Duration(v.Step) * time.Second, Buckets: v.Buckets, Series: v.Series}
	for _, se := range h.Series {
		if len(se.Counts) != h.Buckets {
			return nil, fmt.Errorf("chart: series %q has %d buckets, not %d", se.Name, len(se.Counts), h.Buckets)
		}
	}
	if v.Since != nil {
		h.Since = v.Since.UTC()
	}
	return h, nil
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

// drawChart stacks the counts of each bucket by series (the five
// largest, then Other). A count that stopped at its limit is drawn from
// the bucket of its oldest event.
func drawChart(h *counts) *chart {
	ch := &chart{Width: 760, Height: 200, PlotLeft: 44, PlotRight: 750, PlotTop: 12, PlotBottom: 150}
	from := 0
	if !h.Since.IsZero() {
		from = min(max(int(h.Since.Sub(h.Start)/h.Step), 0), h.Buckets-1)
	}
	first, n := h.Start.Add(time.Duration(from)*h.Step), h.Buckets-from

	// The series, largest first.
	totals := map[string]int64{}
	var all int64
	for _, se := range h.Series {
		for _, c := range se.Counts[from:] {
			totals[se.Name] += c
			all += c
		}
	}
	if all == 0 {
		ch.Empty = true
		return ch
	}
	if !h.Since.IsZero() {
		ch.Note = fmt.Sprintf("the newest %d events", all)
	}
	names := make([]string, 0, len(totals))
	for s, t := range totals {
		if t > 0 {
			names = append(names, s)
		}
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
	stacks := make([][]int64, n)
	for i := range stacks {
		stacks[i] = make([]int64, len(shown))
	}
	for _, se := range h.Series {
		si, ok := index[se.Name]
		if !ok {
			continue
		}
		for b, c := range se.Counts[from:] {
			stacks[b][si] += c
		}
	}
	peak := int64(1)
	for _, cs := range stacks {
		var sum int64
		for _, c := range cs {
			sum += c
		}
		peak = max(peak, sum)
	}
	plotW := float64(ch.PlotRight - ch.PlotLeft)
	plotH := float64(ch.PlotBottom - ch.PlotTop)
	w := plotW / float64(n)
	for b, cs := range stacks {
		y := float64(ch.PlotBottom)
		for si, c := range cs {
			if c == 0 {
				continue
			}
			bh := plotH * float64(c) / float64(peak)
			y -= bh
			ch.Bars = append(ch.Bars, bar{X: float64(ch.PlotLeft) + float64(b)*w + 0.5, Y: y, W: max(w-1, 1), H: bh,
				Color: palette[si], Title: fmt.Sprintf("%s: %d at %s", shown[si], c, first.Add(time.Duration(b)*h.Step).UTC().Format("2006-01-02 15:04"))})
		}
	}
	ch.MaxLabel = fmt.Sprint(peak)
	layout := "15:04"
	if time.Duration(n)*h.Step > 24*time.Hour {
		layout = "Jan 2"
		if h.Step < 24*time.Hour {
			layout = "Jan 2 15:04"
		}
	}
	for _, b := range []int{0, n / 2, n - 1} {
		if b == n/2 && (n < 3) {
			continue
		}
		ch.Ticks = append(ch.Ticks, tick{X: float64(ch.PlotLeft) + float64(b)*w, Label: first.Add(time.Duration(b) * h.Step).UTC().Format(layout)})
	}
	x, y := ch.PlotLeft, ch.PlotBottom+36
	for i, s := range shown {
		label := fmt.Sprintf("%s (%d)", s, totals[s])
		if s == "Other" {
			var rest int64
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
