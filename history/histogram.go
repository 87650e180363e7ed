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

// A histogram counts the events a query matches per time bucket, split
// into series, for the console's chart. It reads the index's keys, never
// the records:
//
//   - by event source, with no attribute or only an EventSource one, it
//     counts the EventSource keys of each source, which sort by time: a
//     scan of keys without values, one per event in the range;
//   - otherwise it walks the query's keys as a lookup does and reads each
//     event's summary (not its record), up to a limit, newest first;
//
// and it keeps what it counted of whole days and hours in the index, so
// that later histograms count only what changed since and the ends of
// their range.

// Series splits.
const (
	SplitSource = "source" // by event source
	SplitError  = "error"  // "Error" or "No error"
)

// Steps are the bucket widths a histogram picks from: the smallest that
// makes fewer than the buckets asked for.
var Steps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Histogram is the count of events per time bucket, by series.
type Histogram struct {
	// Start is the start of the first bucket, Step the width of each.
	Start time.Time
	Step  time.Duration
	// Buckets is how many buckets there are; the last holds the end.
	Buckets int
	// Series are the counts, in no particular order.
	Series []Series
	// Since, when not zero, says the count stopped at its limit: only the
	// events at or after Since are counted.
	Since time.Time
}

// Series is one series' count per bucket.
type Series struct {
	Name   string
	Counts []int64
}

// HistogramQuery asks for a histogram.
type HistogramQuery struct {
	// Query selects the events (its Limit and After are ignored). With a
	// zero Start the histogram starts at the oldest event (at least an
	// hour before its end).
	Query
	// Split is SplitSource or SplitError.
	Split string
	// MaxBuckets bounds the buckets (default 60).
	MaxBuckets int
	// MaxRead bounds the events whose summaries are read when the split
	// cannot be counted from keys alone (0: no bound).
	MaxRead int
}

// Histogram counts the events matching hq per time bucket.
func (x *Index) Histogram(ctx context.Context, hq HistogramQuery) (*Histogram, error) {
	q := hq.Query
	if hq.Split != SplitSource && hq.Split != SplitError {
		return nil, opentrail.Errorf(opentrail.CodeInvalidParameter, "split must be %s or %s, not %q.", SplitSource, SplitError, hq.Split)
	}
	if hq.MaxBuckets <= 0 {
		hq.MaxBuckets = 60
	}
	for _, a := range q.Attrs {
		if _, ok := attrCodes[a.Key]; !ok || a.Key == "" {
			return nil, opentrail.Errorf("InvalidLookupAttributesException", "%s is not a lookup attribute", a.Key)
		}
	}
	lo, hi := x.bounds(q)
	// No event is indexed far in the future: a later end only widens the
	// buckets (and an end centuries away would overflow the span).
	hi = min(hi, time.Now().Unix()+24*3600)
	h := &Histogram{Step: Steps[0]}
	scope, ok, err := x.db.ScopeID(ctx, q.Account, q.Region)
	if err != nil {
		return nil, err
	}
	hscope := scope * 2
	if q.Insight {
		hscope++
	}
	attrs := driveFirst(q.Attrs)
	parts := x.partsSnapshot()
	start := lo
	if q.Start.IsZero() {
		oldest, found, err := x.oldest(parts, hscope, attrs, lo, hi)
		if err != nil {
			return nil, err
		}
		if !found || !ok {
			oldest = hi
		}
		start = min(oldest, hi-3600)
	}
	span := time.Duration(max(hi-start, 0)) * time.Second
	h.Step = Steps[len(Steps)-1]
	for _, s := range Steps {
		if span/s < time.Duration(hq.MaxBuckets) {
			h.Step = s
			break
		}
	}
	h.Start = time.Unix(start, 0).UTC().Truncate(h.Step)
	h.Buckets = max(int(time.Unix(hi, 0).Sub(h.Start)/h.Step)+1, 1)
	if most := 4 * hq.MaxBuckets; h.Buckets > most {
		// A range longer than the widest step allows: chart its newest part.
		h.Buckets = most
		h.Start = time.Unix(hi, 0).UTC().Truncate(h.Step).Add(-time.Duration(most-1) * h.Step)
	}
	if !ok || lo > hi {
		return h, nil
	}
	err = nil
	c := &counter{grid: newGrid(h.Start.Unix(), int64(h.Step/time.Second), h.Buckets), budget: &budget{max: hq.MaxRead}}
	bySource := hq.Split == SplitSource && (len(attrs) == 0 || len(attrs) == 1 && attrs[0].Key == opentrail.AttrEventSource)
	count := func(c *counter, w, lo, hi int64) error {
		if bySource {
			return x.countSources(c, w, hscope, attrs, lo, hi)
		}
		return x.countSummaries(c, w, hscope, q.Attrs, attrs, lo, hi, hq.Split)
	}
	// Whole days and hours are counted by the hour and kept while no event
	// of theirs is indexed; only the ends of the range are counted every
	// time.
	cacheable := h.Step%time.Hour == 0
	ckey := fmt.Sprintf("%d|%s|%q", hscope, hq.Split, q.Attrs)
	for i := len(parts) - 1; i >= 0 && err == nil; i-- {
		w := parts[i]
		for d := min((w+1)*weekSeconds, hi+1) - 1; d >= max(w*weekSeconds, lo) && err == nil; d = d - d%daySeconds - 1 {
			if err = ctx.Err(); err != nil {
				break
			}
			dayLo, dayHi := max(d-d%daySeconds, lo), d
			switch {
			case !cacheable:
				err = count(c, w, dayLo, dayHi)
			case dayLo == d-d%daySeconds && dayHi == dayLo+daySeconds-1:
				err = x.countUnit(c, dayUnit, ckey, dayLo, func(dc *counter) error { return count(dc, w, dayLo, dayHi) })
			default:
				// A day at an end of the range: its whole hours are kept.
				for hr := dayHi; hr >= dayLo && err == nil; hr = hr - hr%3600 - 1 {
					hLo, hHi := max(hr-hr%3600, dayLo), hr
					if hLo == hr-hr%3600 && hHi == hLo+3599 {
						err = x.countUnit(c, hourUnit, ckey, hLo, func(hc *counter) error { return count(hc, w, hLo, hHi) })
					} else {
						err = count(c, w, hLo, hHi)
					}
				}
			}
		}
	}
	if errors.Is(err, errLimit) {
		h.Since = time.Unix(c.budget.since, 0).UTC()
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	h.Series = c.grid.series
	return h, nil
}

// errLimit stops a count at its limit.
var errLimit = errors.New("history: count limit reached")

// grid is counts per series in buckets of step seconds from first.
type grid struct {
	first, step int64
	buckets     int
	index       map[string]int
	series      []Series
}

func newGrid(first, step int64, buckets int) *grid {
	return &grid{first: first, step: step, buckets: buckets, index: map[string]int{}}
}

func (g *grid) add(series string, t int64, n int64) {
	if b := (t - g.first) / g.step; t >= g.first && b < int64(g.buckets) {
		g.counts(series)[b] += n
	}
}

// counts returns the counts of a series, adding it if new.
func (g *grid) counts(name string) []int64 {
	i, ok := g.index[name]
	if !ok {
		i = len(g.series)
		g.index[name] = i
		g.series = append(g.series, Series{Name: name, Counts: make([]int64, g.buckets)})
	}
	return g.series[i].Counts
}

// budget bounds the summaries a histogram reads.
type budget struct {
	max   int // 0: no bound
	read  int
	since int64 // the time of the last event read
}

// counter counts events into a grid, reading summaries on a budget.
type counter struct {
	grid   *grid
	budget *budget
}

// The hourly counts of whole days and hours are kept in the index, under
// the query they answer and the version of the day or hour they were
// counted at (the last batch that indexed events of it), until an event of
// theirs is indexed or their week is dropped.

// unit is a span of time whose counts are kept: a day, or an hour (for
// the days at the ends of a range).
type unit struct {
	seconds       int64
	version, kept byte // key prefixes
}

var (
	dayUnit  = unit{daySeconds, dayPrefix, countPrefix}
	hourUnit = unit{3600, hourPrefix, hourCountPrefix}
)

// versionKey holds the last batch that indexed events of unit n.
func (u unit) versionKey(n int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{u.version}, uint64(n))
}

// keptKey holds the counts of unit n for a query.
func (u unit) keptKey(n int64, query uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{u.kept}, uint64(n))
	return binary.BigEndian.AppendUint64(k, query)
}

// countUnit adds the counts of the unit starting at start to c, kept ones
// or counted ones.
func (x *Index) countUnit(c *counter, u unit, query string, start int64, count func(*counter) error) error {
	n := start / u.seconds
	version, err := x.getUint(u.versionKey(n))
	if err != nil {
		return err
	}
	key := u.keptKey(n, uint64(journal.HashValue(query)))
	if hours, err := x.keptUnit(key, query, version, start, u); err != nil || hours != nil {
		if hours != nil {
			c.grid.merge(hours)
		}
		return err
	}
	// A unit is counted whole, past the budget if need be, so that it can
	// be kept: a later count goes further back.
	hours := newGrid(start, 3600, int(u.seconds/3600))
	spent := &budget{}
	if err := count(&counter{grid: hours, budget: spent}); err != nil {
		return err
	}
	if spent.read > 0 {
		c.budget.read += spent.read
		c.budget.since = spent.since
	}
	if err := x.pdb.Set(key, encodeKept(version, query, hours), pebble.NoSync); err != nil {
		return err
	}
	c.grid.merge(hours)
	if c.budget.max > 0 && c.budget.read >= c.budget.max {
		return errLimit
	}
	return nil
}

func (x *Index) getUint(k []byte) (uint64, error) {
	v, closer, err := x.pdb.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

// keptUnit returns the kept counts of a unit for query at version, or nil.
func (x *Index) keptUnit(key []byte, query string, version uint64, start int64, u unit) (*grid, error) {
	v, closer, err := x.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeKept(v, query, version, start, u), nil
}

// encodeKept is a kept unit: version, query, then each series' name and
// hourly counts.
func encodeKept(version uint64, query string, hours *grid) []byte {
	b := binary.BigEndian.AppendUint64(nil, version)
	b = appendString(b, query)
	b = binary.AppendUvarint(b, uint64(len(hours.series)))
	for _, se := range hours.series {
		b = appendString(b, se.Name)
		for _, n := range se.Counts {
			b = binary.AppendUvarint(b, uint64(n))
		}
	}
	return b
}

// decodeKept reads a kept unit, or returns nil if it is of another
// version or query (or unreadable: it is counted again).
func decodeKept(b []byte, query string, version uint64, start int64, u unit) *grid {
	if len(b) < 8 || binary.BigEndian.Uint64(b) != version {
		return nil
	}
	b = b[8:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	if q, ok := str(); !ok || q != query {
		return nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil
	}
	b = b[k:]
	g := newGrid(start, 3600, int(u.seconds/3600))
	for range n {
		name, ok := str()
		if !ok {
			return nil
		}
		counts := g.counts(name)
		for h := range counts {
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return nil
			}
			counts[h], b = int64(v), b[k:]
		}
	}
	return g
}

// merge adds the counts of o, whose buckets must each fall in one of g's.
func (g *grid) merge(o *grid) {
	for _, se := range o.series {
		for b, n := range se.Counts {
			if n != 0 {
				g.add(se.Name, o.first+int64(b)*o.step, n)
			}
		}
	}
}

// bounds is the time range, in epoch seconds, a query covers.
func (x *Index) bounds(q Query) (lo, hi int64) {
	now := x.now()
	lo = now.Add(-x.retention).Unix()
	if !q.Start.IsZero() {
		s := q.Start.Unix()
		if q.Start.Nanosecond() > 0 {
			s++
		}
		lo = max(lo, s)
	}
	hi = now.Unix()
	if !q.End.IsZero() {
		hi = q.End.Unix()
	}
	return lo, hi
}

// driveFirst orders attributes as lookups walk them: EventId first.
func driveFirst(in []Attr) []Attr {
	attrs := append([]Attr(nil), in...)
	for i, a := range attrs {
		if a.Key == opentrail.AttrEventID {
			attrs[0], attrs[i] = attrs[i], attrs[0]
		}
	}
	return attrs
}

func drivePrefix(week, hscope int64, attrs []Attr) []byte {
	var attr byte
	var val int64
	if len(attrs) > 0 {
		attr, val = attrCodes[attrs[0].Key], journal.HashValue(attrs[0].Value)
	}
	return appendPrefix(make([]byte, 0, keyLen), week, hscope, attr, val)
}

// oldest is the time of the oldest event in [lo, hi] with the first
// attribute (the others are not checked: it only places a chart's start).
func (x *Index) oldest(parts []int64, hscope int64, attrs []Attr, lo, hi int64) (int64, bool, error) {
	for _, w := range parts {
		if w*weekSeconds > hi || (w+1)*weekSeconds <= lo {
			continue
		}
		prefix := drivePrefix(w, hscope, attrs)
		it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keyUpper(prefix)})
		if err != nil {
			return 0, false, err
		}
		// Keys sort newest first: the last key at or after lo.
		seek := binary.BigEndian.AppendUint64(bytes.Clone(prefix), ^uint64(max(lo, 0)))
		seek = append(seek, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		var t int64
		found := it.SeekLT(seek)
		if found {
			t, _ = decodeTail(it.Key())
			found = t <= hi
		}
		err = errors.Join(it.Error(), it.Close())
		if err != nil || found {
			return t, found, err
		}
	}
	return 0, false, nil
}

// countSources counts a week's events by event source from the
// EventSource keys: each source's keys are contiguous and sorted by time.
// With an EventSource attribute only that source's keys are read.
func (x *Index) countSources(c *counter, week, hscope int64, attrs []Attr, lo, hi int64) error {
	prefix := appendPrefix(make([]byte, 0, keyLen), week, hscope, attrCodes[opentrail.AttrEventSource], 0)[:prefixLen-8]
	if len(attrs) == 1 {
		prefix = binary.BigEndian.AppendUint64(prefix, uint64(journal.HashValue(attrs[0].Value)))
	}
	it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keyUpper(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	top := ^uint64(max(hi, 0))
	for ok := it.First(); ok; {
		k := it.Key()
		group := bytes.Clone(k[:prefixLen])
		// Skip to the group's newest key in range.
		if binary.BigEndian.Uint64(k[prefixLen:]) < top {
			if ok = it.SeekGE(binary.BigEndian.AppendUint64(bytes.Clone(group), top)); !ok || !bytes.HasPrefix(it.Key(), group) {
				continue
			}
		}
		var counts []int64 // the source's buckets, once its name is known
		for ; ok && bytes.HasPrefix(it.Key(), group); ok = it.Next() {
			t, seq := decodeTail(it.Key())
			if t < lo {
				break
			}
			if counts == nil {
				name, err := x.sourceOf(week, hscope, t, seq)
				if err != nil {
					return err
				}
				if len(attrs) == 1 && name != attrs[0].Value {
					break // a hash collision: another source
				}
				counts = c.grid.counts(name)
			}
			if b := (t - c.grid.first) / c.grid.step; t >= c.grid.first && b < int64(len(counts)) {
				counts[b]++
			}
		}
		if ok && bytes.HasPrefix(it.Key(), group) {
			// Older than the range: on to the next source.
			ok = it.SeekGE(keyUpper(group))
		}
	}
	return it.Error()
}

// sourceOf reads the event source of one event from its summary.
func (x *Index) sourceOf(week, hscope, t, seq int64) (string, error) {
	v, closer, err := x.pdb.Get(indexKey(week, hscope, 0, 0, t, seq))
	if err != nil {
		return "", fmt.Errorf("event %d: %w", seq, err)
	}
	defer closer.Close()
	s, err := valueSummary(v)
	return s.EventSource, err
}

// valueSummary decodes the summary of an unfiltered key's value.
func valueSummary(v []byte) (opentrail.Summary, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return opentrail.Summary{}, errSummary
	}
	return decodeSummary(v[k : k+int(n)])
}

// countSummaries counts a week's matching events by reading their
// summaries, newest first, until the counter's budget is spent.
func (x *Index) countSummaries(c *counter, week, hscope int64, all, attrs []Attr, lo, hi int64, split string) error {
	prefix := drivePrefix(week, hscope, attrs)
	it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: keyUpper(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	var base *pebble.Iterator
	if len(attrs) > 0 {
		bp := appendPrefix(nil, week, hscope, 0, 0)
		if base, err = x.pdb.NewIter(&pebble.IterOptions{LowerBound: bp, UpperBound: keyUpper(bp)}); err != nil {
			return err
		}
		defer base.Close()
	}
	rest := otherAttrPrefixes(week, hscope, attrs)
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), ^uint64(max(hi, 0)))
	for ok := it.SeekGE(start); ok; ok = it.Next() {
		t, seq := decodeTail(it.Key())
		if t < lo {
			break
		}
		match, err := x.hasAll(rest, t, seq)
		if err != nil {
			return err
		}
		if !match {
			continue
		}
		if c.budget.max > 0 && c.budget.read >= c.budget.max {
			return errLimit
		}
		v := it.Value()
		if base != nil {
			k := indexKey(week, hscope, 0, 0, t, seq)
			if !base.SeekGE(k) || !bytes.Equal(base.Key(), k) {
				return errors.Join(base.Error(), fmt.Errorf("event %d has no entry", seq))
			}
			v = base.Value()
		}
		s, err := valueSummary(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", seq, err)
		}
		c.budget.read++
		c.budget.since = t
		for _, a := range all {
			if !s.Matches(a.Key, a.Value) {
				match = false // a hash collision: not this event
				break
			}
		}
		if !match {
			continue
		}
		series := s.EventSource
		if split == SplitError {
			series = "No error"
			if s.ErrorCode != "" {
				series = "Error"
			}
		}
		c.grid.add(series, t, 1)
	}
	return it.Error()
}
