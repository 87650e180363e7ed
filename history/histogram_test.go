package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/history"
	"github.com/opentrail/opentrail/journal"
)

// histEvent is one event of the histogram tests.
type histEvent struct {
	t      time.Time
	source string
	user   string
	failed bool
}

func TestHistogram(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	// 300 events over 30 days (several index weeks), three sources.
	var evs []histEvent
	var entries []journal.Entry
	for i := range 300 {
		e := histEvent{t: now.Add(-time.Duration(i) * 2 * time.Hour * 6 / 5), source: []string{"ec2", "s3", "iam"}[i%3] + ".amazonaws.com",
			user: []string{"alice", "bob"}[i%2], failed: i%5 == 0}
		ev := opentrail.Event{EventVersion: opentrail.EventVersion, EventTime: opentrail.FormatTime(e.t), EventSource: e.source,
			EventName: "Call", AWSRegion: "us-east-1", EventID: fmt.Sprintf("h%03d", i), EventType: opentrail.TypeAwsAPICall,
			UserIdentity:  &opentrail.UserIdentity{Type: "IAMUser", UserName: e.user, AccountID: "111122223333"},
			EventCategory: opentrail.CategoryManagement, ReadOnly: opentrail.Bool(true), RequestParameters: opentrail.Null, ResponseElements: opentrail.Null}
		if e.failed {
			ev.ErrorCode = "AccessDenied"
		}
		body, _ := json.Marshal(ev)
		evs = append(evs, e)
		entries = append(entries, entry(body, e.t, journal.OriginAPI))
	}
	if _, err := db.Append(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	x := mustIndex(t, db, history.Options{})
	if err := x.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	start := now.Add(-31 * 24 * time.Hour)
	end := now.Add(-2 * 24 * time.Hour)
	q := history.Query{Account: "111122223333", Region: "us-east-1", Start: start}

	// want counts the events by brute force.
	want := func(h *history.Histogram, from, to time.Time, keep func(histEvent) bool, series func(histEvent) string) map[string][]int64 {
		m := map[string][]int64{}
		for _, e := range evs {
			if e.t.Before(from) || e.t.After(to) || !keep(e) {
				continue
			}
			s := series(e)
			if m[s] == nil {
				m[s] = make([]int64, h.Buckets)
			}
			m[s][e.t.Sub(h.Start)/h.Step]++
		}
		return m
	}
	got := func(h *history.Histogram) map[string][]int64 {
		m := map[string][]int64{}
		for _, s := range h.Series {
			m[s.Name] = s.Counts
		}
		return m
	}
	all := func(histEvent) bool { return true }
	source := func(e histEvent) string { return e.source }
	failed := func(e histEvent) string {
		if e.failed {
			return "Error"
		}
		return "No error"
	}
	tests := []struct {
		name   string
		q      history.Query
		split  string
		from   time.Time
		to     time.Time
		keep   func(histEvent) bool
		series func(histEvent) string
		step   time.Duration // fewer than 60 buckets
	}{
		{"by source from keys", q, history.SplitSource, start, now, all, source, 24 * time.Hour},
		{"one source from keys", history.Query{Account: q.Account, Region: q.Region, Start: start, End: end,
			Attrs: []history.Attr{{Key: opentrail.AttrEventSource, Value: "s3.amazonaws.com"}}}, history.SplitSource, start, end,
			func(e histEvent) bool { return e.source == "s3.amazonaws.com" }, source, 12 * time.Hour},
		{"by source for a user", history.Query{Account: q.Account, Region: q.Region, Start: start,
			Attrs: []history.Attr{{Key: opentrail.AttrUsername, Value: "bob"}}}, history.SplitSource, start, now,
			func(e histEvent) bool { return e.user == "bob" }, source, 24 * time.Hour},
		{"by error", q, history.SplitError, start, now, all, failed, 24 * time.Hour},
		{"by error in a range", history.Query{Account: q.Account, Region: q.Region, Start: start, End: end}, history.SplitError, start, end, all, failed, 12 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := x.Histogram(ctx, history.HistogramQuery{Query: tt.q, Split: tt.split})
			if err != nil {
				t.Fatal(err)
			}
			if h.Step != tt.step || !h.Start.Equal(start.Truncate(tt.step)) || !h.Since.IsZero() {
				t.Fatalf("step %v start %v since %v; want %v from %v, complete", h.Step, h.Start, h.Since, tt.step, start.Truncate(tt.step))
			}
			if diff := cmp.Diff(want(h, tt.from, tt.to, tt.keep, tt.series), got(h)); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("from the oldest event", func(t *testing.T) {
		h, err := x.Histogram(ctx, history.HistogramQuery{Query: history.Query{Account: q.Account, Region: q.Region}, Split: history.SplitSource})
		if err != nil {
			t.Fatal(err)
		}
		oldest := evs[len(evs)-1].t
		if !h.Start.Equal(oldest.Truncate(12*time.Hour)) || h.Step != 12*time.Hour {
			t.Errorf("start %v step %v, want the day of the oldest event %v", h.Start, h.Step, oldest)
		}
		if diff := cmp.Diff(want(h, oldest, now, all, source), got(h)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})

	t.Run("limit", func(t *testing.T) {
		// (A query no earlier test counted: counted days are cached and
		// cost nothing.)
		alice := func(e histEvent) bool { return e.user == "alice" }
		lq := history.Query{Account: q.Account, Region: q.Region, Start: start, Attrs: []history.Attr{{Key: opentrail.AttrUsername, Value: "alice"}}}
		h, err := x.Histogram(ctx, history.HistogramQuery{Query: lq, Split: history.SplitError, MaxRead: 25})
		if err != nil {
			t.Fatal(err)
		}
		// Alice's are the even ones; the day of her 25th newest is
		// counted whole (to be kept), so the count ends at her oldest
		// event of that day.
		day := evs[48].t.Truncate(24 * time.Hour)
		var since time.Time
		for _, e := range evs {
			if alice(e) && !e.t.Before(day) && e.t.Before(day.Add(24*time.Hour)) {
				since = e.t
			}
		}
		if !h.Since.Equal(since) {
			t.Fatalf("since %v, want %v, the oldest event of the day the limit was reached", h.Since, since)
		}
		if diff := cmp.Diff(want(h, since, now, alice, failed), got(h)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})

	t.Run("short range in minutes", func(t *testing.T) {
		from := now.Add(-10 * time.Hour)
		h, err := x.Histogram(ctx, history.HistogramQuery{Query: history.Query{Account: q.Account, Region: q.Region, Start: from, End: now}, Split: history.SplitSource})
		if err != nil {
			t.Fatal(err)
		}
		if h.Step != 15*time.Minute || h.Buckets != int(now.Sub(from.Truncate(h.Step))/h.Step)+1 {
			t.Errorf("step %v, %d buckets", h.Step, h.Buckets)
		}
		if diff := cmp.Diff(want(h, from, now, all, source), got(h)); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})

	t.Run("cached days follow new events", func(t *testing.T) {
		hq := history.HistogramQuery{Query: q, Split: history.SplitSource}
		before, err := x.Histogram(ctx, hq)
		if err != nil {
			t.Fatal(err)
		}
		// Events ingested late, into a day and an hour already counted.
		for i, at := range []time.Time{now.Add(-20 * 24 * time.Hour), now.Add(-2 * time.Hour)} {
			e := histEvent{t: at, source: "late.amazonaws.com", user: "alice"}
			ev := opentrail.Event{EventVersion: opentrail.EventVersion, EventTime: opentrail.FormatTime(at), EventSource: e.source,
				EventName: "Call", AWSRegion: "us-east-1", EventID: fmt.Sprintf("late%d", i), EventType: opentrail.TypeAwsAPICall,
				UserIdentity:  &opentrail.UserIdentity{Type: "IAMUser", UserName: e.user, AccountID: "111122223333"},
				EventCategory: opentrail.CategoryManagement, RequestParameters: opentrail.Null, ResponseElements: opentrail.Null}
			body, _ := json.Marshal(ev)
			if _, err := db.Append(ctx, entry(body, at, journal.OriginAPI)); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		if err := x.CatchUp(ctx, nil); err != nil {
			t.Fatal(err)
		}
		after, err := x.Histogram(ctx, hq)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want(after, start, now, all, source), got(after)); diff != "" {
			t.Errorf("counts after a late event (-want +got):\n%s", diff)
		}
		if len(after.Series) != len(before.Series)+1 {
			t.Errorf("%d series before the late event, %d after", len(before.Series), len(after.Series))
		}
	})

	// A range older than the retention period: one empty bucket.
	old := history.Query{Account: q.Account, Region: q.Region, Start: now.Add(-200 * 24 * time.Hour), End: now.Add(-199 * 24 * time.Hour)}
	if h, err := x.Histogram(ctx, history.HistogramQuery{Query: old, Split: history.SplitSource}); err != nil || h.Buckets < 1 || len(h.Series) != 0 {
		t.Errorf("a range past retention: %+v, %v", h, err)
	}

	if _, err := x.Histogram(ctx, history.HistogramQuery{Query: q, Split: "color"}); err == nil {
		t.Errorf("an unknown split is accepted")
	}

	// An end centuries away (any caller may send one) neither overflows
	// nor asks for millions of buckets; the events are still all counted.
	for _, far := range []time.Time{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), now.Add(200 * 365 * 24 * time.Hour)} {
		h, err := x.Histogram(ctx, history.HistogramQuery{Query: history.Query{Account: "111122223333", Region: "us-east-1", End: far},
			Split: history.SplitSource, MaxBuckets: 60})
		if err != nil {
			t.Fatal(err)
		}
		if h.Buckets < 1 || h.Buckets > 240 {
			t.Fatalf("end %v: %d buckets of %v", far, h.Buckets, h.Step)
		}
		var n int64
		for _, s := range h.Series {
			if len(s.Counts) != h.Buckets {
				t.Fatalf("end %v: a series of %d counts for %d buckets", far, len(s.Counts), h.Buckets)
			}
			for _, c := range s.Counts {
				n += c
			}
		}
		if n != int64(len(evs)) {
			t.Errorf("end %v: %d events counted, want %d", far, n, len(evs))
		}
	}
}
