package journal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
)

// Attr is one lookup attribute condition.
type Attr struct {
	Key   string
	Value string
}

// Cursor marks where a lookup stopped: the time and sequence number of the
// last event returned. The next page holds older events.
type Cursor struct {
	Time int64
	Seq  int64
}

// LookupQuery selects events from the history of one account and region.
type LookupQuery struct {
	Account string
	Region  string
	// Insight selects Insights events instead of management events.
	Insight bool
	// Attrs must all match (AWS allows one; more is an opentrail extension).
	Attrs []Attr
	// Start and End bound eventTime, both inclusive, at second precision.
	// Zero Start means the start of the retention period, zero End now.
	Start, End time.Time
	// Limit is the page size (at least 1).
	Limit int
	// After continues a previous lookup.
	After *Cursor
}

// Found is one event a lookup found.
type Found struct {
	Seq     int64
	Body    []byte
	Summary opentrail.Summary
}

// Lookup returns events matching q, newest first, and a cursor for the next
// page (nil on the last page). Events older than the retention period are
// never returned.
func (h *History) Lookup(ctx context.Context, q LookupQuery) ([]Found, *Cursor, error) {
	if q.Limit < 1 {
		q.Limit = 1
	}
	for _, a := range q.Attrs {
		if _, ok := attrCodes[a.Key]; !ok || a.Key == "" {
			return nil, nil, opentrail.Errorf("InvalidLookupAttributesException", "%s is not a lookup attribute", a.Key)
		}
	}
	now := h.now()
	lo := now.Add(-h.retention).Unix()
	if s := ceilSecond(q.Start); !q.Start.IsZero() && s > lo {
		lo = s
	}
	hi := now.Unix()
	if !q.End.IsZero() {
		hi = q.End.Unix() // floor: an event at second s is "at or before" s.x
	}
	if q.After != nil && q.After.Time < hi {
		hi = q.After.Time
	}
	if lo > hi {
		return nil, nil, nil
	}
	scope, ok, err := h.db.ScopeID(ctx, q.Account, q.Region)
	if err != nil || !ok {
		return nil, nil, err
	}
	hscope := scope * 2
	if q.Insight {
		hscope++
	}
	h.mu.Lock()
	parts := append([]int64(nil), h.parts...)
	h.mu.Unlock()

	// Drive the search by the first attribute (EventId if given: it is the
	// most selective) and check the others by point lookups.
	attrs := append([]Attr(nil), q.Attrs...)
	for i, a := range attrs {
		if a.Key == opentrail.AttrEventID {
			attrs[0], attrs[i] = attrs[i], attrs[0]
		}
	}
	var hits []Cursor
	want := q.Limit + 1
	for i := len(parts) - 1; i >= 0 && len(hits) < want; i-- {
		w := parts[i]
		if w*weekSeconds > hi || (w+1)*weekSeconds <= lo {
			continue
		}
		got, err := h.lookupPart(ctx, w, hscope, attrs, lo, hi, q.After, want-len(hits))
		if err != nil {
			return nil, nil, err
		}
		hits = append(hits, got...)
	}
	var next *Cursor
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
		c := hits[len(hits)-1]
		next = &c
	}
	seqs := make([]int64, len(hits))
	for i, c := range hits {
		seqs[i] = c.Seq
	}
	bodies, err := h.db.Bodies(ctx, seqs)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Found, 0, len(hits))
	for _, c := range hits {
		body, ok := bodies[c.Seq]
		if !ok {
			continue // removed by retention meanwhile
		}
		sum, err := opentrail.Summarize(body)
		if err != nil {
			continue
		}
		match := true
		for _, a := range q.Attrs {
			if !sum.Matches(a.Key, a.Value) {
				match = false // a hash collision: not this event
				break
			}
		}
		if match {
			out = append(out, Found{Seq: c.Seq, Body: body, Summary: sum})
		}
	}
	return out, next, nil
}

func ceilSecond(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func (h *History) lookupPart(ctx context.Context, week, hscope int64, attrs []Attr, lo, hi int64, after *Cursor, limit int) ([]Cursor, error) {
	t := histTable(week)
	var b strings.Builder
	args := []any{hscope}
	b.WriteString("SELECT a.time, a.seq FROM " + t + " a WHERE a.hscope = ? AND a.attr = ? AND a.val = ?")
	if len(attrs) == 0 {
		args = append(args, 0, 0)
	} else {
		args = append(args, attrCodes[attrs[0].Key], hashValue(attrs[0].Value))
	}
	b.WriteString(" AND a.time >= ? AND a.time <= ?")
	args = append(args, lo, hi)
	if after != nil {
		b.WriteString(" AND (a.time, a.seq) < (?, ?)")
		args = append(args, after.Time, after.Seq)
	}
	for _, a := range attrs[min(1, len(attrs)):] {
		b.WriteString(" AND EXISTS (SELECT 1 FROM " + t + " x WHERE x.hscope = a.hscope AND x.attr = ? AND x.val = ? AND x.time = a.time AND x.seq = a.seq)")
		args = append(args, attrCodes[a.Key], hashValue(a.Value))
	}
	b.WriteString(" ORDER BY a.time DESC, a.seq DESC LIMIT ?")
	args = append(args, limit)
	rows, err := h.db.rdb.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("look up events: %w", err)
	}
	defer rows.Close()
	var out []Cursor
	for rows.Next() {
		var c Cursor
		if err := rows.Scan(&c.Time, &c.Seq); err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Scan calls fn for every event matching q (ignoring q.Limit and q.After),
// newest first, reading the index a page at a time so that memory stays
// flat however many events match. It stops at fn's first error.
func (h *History) Scan(ctx context.Context, q LookupQuery, fn func(Found) error) error {
	q.Limit = 500
	q.After = nil
	for {
		page, next, err := h.Lookup(ctx, q)
		if err != nil {
			return err
		}
		for _, f := range page {
			if err := fn(f); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		q.After = next
	}
}
