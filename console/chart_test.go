package console

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDrawChart(t *testing.T) {
	body := `{"start":"2026-11-01T00:00:00Z","step":3600,"buckets":4,"series":[
		{"name":"a","counts":[1,0,2,0]},{"name":"b","counts":[0,5,0,0]},{"name":"c","counts":[1,1,1,1]},
		{"name":"d","counts":[0,0,0,1]},{"name":"e","counts":[0,0,0,2]},{"name":"f","counts":[3,0,0,0]},{"name":"g","counts":[0,0,0,0]}]}`
	h, err := decodeCounts(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ch := drawChart(h)
	var legend []string
	for _, l := range ch.Legend {
		legend = append(legend, l.Label)
	}
	// The five largest, then the rest as Other; g counted nothing.
	if diff := cmp.Diff([]string{"b (5)", "c (4)", "a (3)", "f (3)", "e (2)", "Other (1)"}, legend); diff != "" {
		t.Errorf("legend (-want +got):\n%s", diff)
	}
	if ch.MaxLabel != "6" || ch.Note != "" || ch.Empty {
		t.Errorf("peak %s note %q empty %v", ch.MaxLabel, ch.Note, ch.Empty)
	}
	var total float64
	for _, b := range ch.Bars {
		total += b.H
	}
	// Bars are scaled to the peak (6 events): 18 events in all.
	if plotH := float64(ch.PlotBottom - ch.PlotTop); total < plotH*18/6-0.01 || total > plotH*18/6+0.01 {
		t.Errorf("bars add up to %.2f px, want %.2f", total, plotH*18/6)
	}

	// A count cut short starts at its oldest event's bucket.
	h.Since = h.Start.Add(2*time.Hour + 30*time.Minute)
	ch = drawChart(h)
	if ch.Note != "the newest 7 events" || ch.Ticks[0].Label != "02:00" {
		t.Errorf("a partial count: note %q, first tick %q", ch.Note, ch.Ticks[0].Label)
	}

	if ch := drawChart(&counts{Start: h.Start, Step: time.Hour, Buckets: 2}); !ch.Empty {
		t.Errorf("no events: not drawn empty")
	}
	for _, bad := range []string{`{`, `{"step":0,"buckets":3}`, `{"step":60,"buckets":2,"series":[{"name":"a","counts":[1]}]}`} {
		if _, err := decodeCounts(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}
