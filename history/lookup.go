package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
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

// Query selects events from the history of one account and region.
type Query struct {
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
func (x *Index) Lookup(ctx context.Context, q Query) ([]Found, *Cursor, error) {
	if q.Limit < 1 {
		q.Limit = 1
	}
	for _, a := range q.Attrs {
		if _, ok := attrCodes[a.Key]; !ok || a.Key == "" {
			return nil, nil, opentrail.Errorf("InvalidLookupAttributesException", "%s is not a lookup attribute", a.Key)
		}
	}
	now := x.now()
	lo := now.Add(-x.retention).Unix()
	if !q.Start.IsZero() {
		s := q.Start.Unix()
		if q.Start.Nanosecond() > 0 {
			s++ // an event at second s is "at or after" only a start at or before s
		}
		lo = max(lo, s)
	}
	hi := now.Unix()
	if !q.End.IsZero() {
		hi = q.End.Unix() // an event at second s is "at or before" s.x
	}
	if q.After != nil && q.After.Time < hi {
		hi = q.After.Time
	}
	if lo > hi {
		return nil, nil, nil
	}
	scope, ok, err := x.db.ScopeID(ctx, q.Account, q.Region)
	if err != nil || !ok {
		return nil, nil, err
	}
	hscope := scope * 2
	if q.Insight {
		hscope++
	}
	parts := x.partsSnapshot()

	// Drive the search by the first attribute (EventId if given: it is the
	// most selective) and check the others by point lookups.
	attrs := append([]Attr(nil), q.Attrs...)
	for i, a := range attrs {
		if a.Key == opentrail.AttrEventID {
			attrs[0], attrs[i] = attrs[i], attrs[0]
		}
	}
	var hits []hit
	want := q.Limit + 1
	for i := len(parts) - 1; i >= 0 && len(hits) < want; i-- {
		w := parts[i]
		if w*weekSeconds > hi || (w+1)*weekSeconds <= lo {
			continue
		}
		got, err := x.lookupWeek(w, hscope, attrs, lo, hi, q.After, want-len(hits))
		if err != nil {
			return nil, nil, err
		}
		hits = append(hits, got...)
	}
	var next *Cursor
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
		c := hits[len(hits)-1].Cursor
		next = &c
	}
	out := make([]Found, 0, len(hits))
	for _, h := range hits {
		sum, body, err := decodeValue(h.value)
		if err != nil {
			return nil, nil, fmt.Errorf("look up events: event %d: %w", h.Seq, err)
		}
		match := true
		for _, a := range q.Attrs {
			if !sum.Matches(a.Key, a.Value) {
				match = false // a hash collision: not this event
				break
			}
		}
		if match {
			out = append(out, Found{Seq: h.Seq, Body: body, Summary: sum})
		}
	}
	return out, next, nil
}

// hit is an index entry a lookup found, with the value of the event's
// unfiltered key.
type hit struct {
	Cursor
	value []byte
}

func (x *Index) lookupWeek(week, hscope int64, attrs []Attr, lo, hi int64, after *Cursor, limit int) ([]hit, error) {
	var attr byte
	var val int64
	if len(attrs) > 0 {
		attr, val = attrCodes[attrs[0].Key], journal.HashValue(attrs[0].Value)
	}
	prefix := appendPrefix(make([]byte, 0, keyLen), week, hscope, attr, val)
	it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keyUpper(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), ^uint64(max(hi, 0)))
	if after != nil && after.Time == hi {
		// Strictly older than the cursor: (time, seq) < (after.Time, after.Seq).
		start = binary.BigEndian.AppendUint64(start, ^uint64(after.Seq)+1)
	}
	// The events' values are read through one iterator over the week's
	// unfiltered keys: hits come newest first, which is that iterator's
	// order, so each seek moves forward over blocks it already holds.
	var base *pebble.Iterator
	if attr != 0 {
		bp := appendPrefix(nil, week, hscope, 0, 0)
		if base, err = x.pdb.NewIter(&pebble.IterOptions{LowerBound: bp, UpperBound: keyUpper(bp)}); err != nil {
			return nil, err
		}
		defer base.Close()
	}
	rest := otherAttrPrefixes(week, hscope, attrs)
	var out []hit
	for ok := it.SeekGE(start); ok && len(out) < limit; ok = it.Next() {
		t, seq := decodeTail(it.Key())
		if t < lo {
			break
		}
		match, err := x.hasAll(rest, t, seq)
		if err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
		if !match {
			continue
		}
		h := hit{Cursor: Cursor{Time: t, Seq: seq}}
		if attr == 0 {
			h.value = bytes.Clone(it.Value())
		} else {
			k := indexKey(week, hscope, 0, 0, t, seq)
			if !base.SeekGE(k) || !bytes.Equal(base.Key(), k) {
				if err := base.Error(); err != nil {
					return nil, fmt.Errorf("look up events: event %d: %w", seq, err)
				}
				return nil, fmt.Errorf("look up events: event %d has no entry", seq)
			}
			h.value = bytes.Clone(base.Value())
		}
		out = append(out, h)
	}
	return out, it.Error()
}

// Scan calls fn for every event matching q (ignoring q.Limit and q.After),
// newest first, reading the index a page at a time so that memory stays
// flat however many events match. It stops at fn's first error.
func (x *Index) Scan(ctx context.Context, q Query, fn func(Found) error) error {
	q.Limit = 500
	q.After = nil
	for {
		page, next, err := x.Lookup(ctx, q)
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

// otherAttrPrefixes are the index prefixes of the lookup attributes after
// the first (the one a lookup iterates over).
func otherAttrPrefixes(week, hscope int64, attrs []Attr) [][]byte {
	rest := make([][]byte, 0, len(attrs))
	for _, a := range attrs[min(1, len(attrs)):] {
		rest = append(rest, appendPrefix(nil, week, hscope, attrCodes[a.Key], journal.HashValue(a.Value)))
	}
	return rest
}

// hasAll reports whether the event at (t, seq) has an index entry under
// each of prefixes.
func (x *Index) hasAll(prefixes [][]byte, t, seq int64) (bool, error) {
	for _, p := range prefixes {
		k := binary.BigEndian.AppendUint64(bytes.Clone(p), ^uint64(t))
		k = binary.BigEndian.AppendUint64(k, ^uint64(seq))
		_, closer, err := x.pdb.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		closer.Close()
	}
	return true, nil
}
