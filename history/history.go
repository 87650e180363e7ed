// Package history is event history: the index that answers LookupEvents,
// kept up to date as a consumer of the journal.
//
// The index is a Pebble (LSM) key-value store in its own directory beside
// the journal. Every event in event history has one key per
// lookup-attribute value, plus one key for unfiltered lookups:
//
//	'i' week hscope attr val ^time ^seq      (all big-endian uint64 but attr)
//
// week is the event time in weeks since the epoch, so that retention drops
// whole weeks with one range deletion; hscope is the journal scope times 2
// plus the history class (0 management and channel events, 1 Insights); val
// is a 64-bit FNV-1a hash of the value (every hit is checked against the
// record, so a collision never returns a wrong event); time and seq are
// inverted so that keys sort newest first. The consumer's checkpoint is
// written in the same batch as the keys it covers, so the index and its
// checkpoint always agree; the index can always be rebuilt from the
// journal. Each batch also notes, per day and per hour of the events it
// indexed, that they changed, so that histograms (histogram.go) can keep
// their counts of unchanged days and hours in the index.
//
// The index lives outside the journal's SQLite database on purpose: writing
// it there took most of the single writer's time, where an LSM on its own
// takes the keys at a fraction of the cost and in parallel with the journal.
package history

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

const (
	consumerName = "history"
	weekSeconds  = 7 * 24 * 3600
	daySeconds   = 24 * 3600
)

// History classes.
const (
	classDefault = 0
	classInsight = 1
)

var attrCodes = map[string]byte{
	"":                         0,
	opentrail.AttrEventID:      1,
	opentrail.AttrEventName:    2,
	opentrail.AttrReadOnly:     3,
	opentrail.AttrUsername:     4,
	opentrail.AttrResourceType: 5,
	opentrail.AttrResourceName: 6,
	opentrail.AttrEventSource:  7,
	opentrail.AttrAccessKeyID:  8,
}

// attrDedupe holds, for ingested records without an eventID, a hash of the
// record, so that loading the same file twice adds nothing.
const attrDedupe = 9

// DefaultRetention is event history's retention, as AWS's.
const DefaultRetention = 90 * 24 * time.Hour

// Options configure an Index.
type Options struct {
	// Dir is the index's directory.
	Dir string
	// Retention is how long events stay searchable (default 90 days).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// CacheMiB is the block cache size (default 256).
	CacheMiB int
}

// Index is event history. It is safe for concurrent use; one goroutine runs
// Run (or CatchUp) to keep it up to date.
type Index struct {
	db        *journal.DB
	pdb       *pebble.DB
	log       *slog.Logger
	retention time.Duration
	now       func() time.Time

	indexed atomic.Int64 // journal seq up to which the index is complete

	mu    sync.Mutex
	parts []int64       // weeks that have keys, ascending
	advCh chan struct{} // closed and replaced when indexed advances

	closeOnce sync.Once
	closeErr  error
}

// ErrLocked is returned by Open when another process has the index open.
var ErrLocked = errors.New("history: the index is in use by another process")

// Open opens (creating if needed) the index of db in opts.Dir.
func Open(ctx context.Context, db *journal.DB, opts Options) (*Index, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 256
	}
	log := opts.Logger.With(slog.String("component", "history"))
	cache := pebble.NewCache(int64(opts.CacheMiB) << 20)
	defer cache.Unref()
	popts := &pebble.Options{
		Cache:        cache,
		MemTableSize: 32 << 20,
		Logger:       pebbleLogger{log},
	}
	for i := range popts.Levels {
		// Lookups check attributes and fetch events by point reads.
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	pdb, err := pebble.Open(opts.Dir, popts)
	if err != nil {
		if isLockError(err) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("open event history index %s: %w", opts.Dir, err)
	}
	x := &Index{db: db, pdb: pdb, log: log, retention: opts.Retention, now: opts.Now, advCh: make(chan struct{})}
	cp, err := x.readCheckpoint()
	if err != nil {
		pdb.Close()
		return nil, err
	}
	x.indexed.Store(cp)
	if err := x.loadParts(); err != nil {
		pdb.Close()
		return nil, err
	}
	// Register with the journal, which keeps events until every consumer
	// has passed them.
	if err := db.Update(ctx, func(tx *journal.Tx) error { return tx.SetCheckpoint(consumerName, cp) }); err != nil {
		pdb.Close()
		return nil, err
	}
	return x, nil
}

// Close flushes and closes the index. Calls after the first do nothing.
func (x *Index) Close() error {
	x.closeOnce.Do(func() {
		x.closeErr = errors.Join(x.pdb.Flush(), x.pdb.Close())
	})
	return x.closeErr
}

// Retention is how far back events are searchable.
func (x *Index) Retention() time.Duration { return x.retention }

// Indexed returns the journal sequence number up to which the index is complete.
func (x *Index) Indexed() int64 { return x.indexed.Load() }

var (
	checkpointKey   = []byte("c")
	partPrefix      = byte('p')
	indexPrefix     = byte('i')
	dayPrefix       = byte('v') // day -> the last batch that indexed events of that day
	countPrefix     = byte('h') // day, query hash -> a histogram's counts of that day
	hourPrefix      = byte('u') // hour -> the last batch that indexed events of that hour
	hourCountPrefix = byte('g') // hour, query hash -> a histogram's counts of that hour
)

func (x *Index) readCheckpoint() (int64, error) {
	v, closer, err := x.pdb.Get(checkpointKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read history checkpoint: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("history checkpoint is %d bytes, not 8", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (x *Index) loadParts() error {
	it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{partPrefix}, UpperBound: []byte{partPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	var parts []int64
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); len(k) == 9 {
			parts = append(parts, int64(binary.BigEndian.Uint64(k[1:])))
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("list history weeks: %w", err)
	}
	x.mu.Lock()
	x.parts = parts
	x.mu.Unlock()
	return nil
}

func partKey(week int64) []byte {
	k := make([]byte, 9)
	k[0] = partPrefix
	binary.BigEndian.PutUint64(k[1:], uint64(week))
	return k
}

// key layout offsets.
const (
	keyLen    = 1 + 8 + 8 + 1 + 8 + 8 + 8
	prefixLen = 1 + 8 + 8 + 1 + 8 // up to and including val
)

func appendPrefix(k []byte, week, hscope int64, attr byte, val int64) []byte {
	k = append(k, indexPrefix)
	k = binary.BigEndian.AppendUint64(k, uint64(week))
	k = binary.BigEndian.AppendUint64(k, uint64(hscope))
	k = append(k, attr)
	return binary.BigEndian.AppendUint64(k, uint64(val))
}

func indexKey(week, hscope int64, attr byte, val, t, seq int64) []byte {
	k := appendPrefix(make([]byte, 0, keyLen), week, hscope, attr, val)
	k = binary.BigEndian.AppendUint64(k, ^uint64(max(t, 0)))
	return binary.BigEndian.AppendUint64(k, ^uint64(seq))
}

func decodeTail(k []byte) (t, seq int64) {
	return int64(^binary.BigEndian.Uint64(k[prefixLen:])), int64(^binary.BigEndian.Uint64(k[prefixLen+8:]))
}

// Run indexes journal events as they are committed, until ctx ends.
func (x *Index) Run(ctx context.Context) error {
	for {
		n, err := x.IndexOnce(ctx, 10000)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			x.log.Error("index events", slog.String("err", err.Error()))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if n > 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = x.db.WaitHead(wctx, x.indexed.Load())
		cancel()
		if errors.Is(err, journal.ErrClosed) || ctx.Err() != nil {
			return nil
		}
	}
}

// CatchUp indexes until the index covers the journal head as it was when
// CatchUp was called, reporting progress to fn (which may be nil).
func (x *Index) CatchUp(ctx context.Context, fn func(indexed, head int64)) error {
	head := x.db.Head()
	for x.indexed.Load() < head {
		n, err := x.IndexOnce(ctx, 20000)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if fn != nil {
			fn(x.indexed.Load(), head)
		}
	}
	return nil
}

// WaitFor blocks until the index covers journal sequence seq, or ctx ends.
func (x *Index) WaitFor(ctx context.Context, seq int64) error {
	for {
		x.mu.Lock()
		ch := x.advCh
		x.mu.Unlock()
		if x.indexed.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// IndexOnce indexes up to limit journal events after the checkpoint and
// returns how many journal rows it consumed.
func (x *Index) IndexOnce(ctx context.Context, limit int) (int, error) {
	after := x.indexed.Load()
	rows, err := x.db.Feed(ctx, after, limit)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	cutoff := x.now().Add(-x.retention).Unix()
	b := x.pdb.NewBatch()
	defer b.Close()
	newWeeks := map[int64]bool{}
	seen := map[string]bool{}                                   // dedupe keys set in this batch
	units := map[unit]map[int64]bool{dayUnit: {}, hourUnit: {}} // the days and hours of the events indexed
	lastHour := int64(-1)
	for i := range rows {
		r := &rows[i]
		t := r.Time.Unix()
		if !r.History() || t < cutoff {
			continue
		}
		sum, err := r.Summary()
		if err != nil {
			x.log.Warn("skip invalid event", slog.Int64("seq", r.Seq), slog.String("err", err.Error()))
			continue
		}
		class := int64(classDefault)
		if sum.Category == opentrail.CategoryInsight {
			class = classInsight
		}
		week, hscope := t/weekSeconds, r.Scope*2+class
		if r.Origin() == journal.OriginIngest {
			// Loading the same log twice must not list an event twice.
			attr, val := attrCodes[opentrail.AttrEventID], journal.HashValue(sum.EventID)
			if sum.EventID == "" {
				attr, val = attrDedupe, r.DedupeKey()
			}
			dup, err := x.hasAt(appendPrefix(nil, week, hscope, attr, val), t, seen)
			if err != nil {
				return 0, err
			}
			if dup {
				continue
			}
			if sum.EventID == "" {
				if err := b.Set(indexKey(week, hscope, attr, val, t, r.Seq), nil, nil); err != nil {
					return 0, err
				}
			}
		}
		if t/3600 != lastHour { // events mostly come in time order
			lastHour = t / 3600
			units[dayUnit][t/daySeconds] = true
			units[hourUnit][lastHour] = true
		}
		if !slices.Contains(x.partsSnapshot(), week) && !newWeeks[week] {
			newWeeks[week] = true
			if err := b.Set(partKey(week), nil, nil); err != nil {
				return 0, err
			}
		}
		if err := b.Set(indexKey(week, hscope, 0, 0, t, r.Seq), encodeValue(sum, r.StoredBody()), nil); err != nil {
			return 0, err
		}
		for _, a := range opentrail.LookupAttributes {
			for _, v := range sum.Values(a) {
				k := indexKey(week, hscope, attrCodes[a], journal.HashValue(v), t, r.Seq)
				if err := b.Set(k, nil, nil); err != nil {
					return 0, err
				}
				if a == opentrail.AttrEventID {
					seen[string(k[:prefixLen+8])] = true
				}
			}
		}
	}
	last := rows[len(rows)-1].Seq
	for u, ns := range units {
		for n := range ns {
			// Histograms keep a day's or an hour's counts while this is unchanged.
			if err := b.Set(u.versionKey(n), binary.BigEndian.AppendUint64(nil, uint64(last)), nil); err != nil {
				return 0, err
			}
		}
	}
	if err := b.Set(checkpointKey, binary.BigEndian.AppendUint64(nil, uint64(last)), nil); err != nil {
		return 0, err
	}
	// NoSync: the index survives a crash of opentrail; a crash of the
	// machine may lose its last batches, checkpoint included, and they are
	// indexed again from the journal.
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("write event history index: %w", err)
	}
	x.mu.Lock()
	for w := range newWeeks {
		x.parts = append(x.parts, w)
	}
	slices.Sort(x.parts)
	x.indexed.Store(last)
	close(x.advCh)
	x.advCh = make(chan struct{})
	x.mu.Unlock()
	return len(rows), nil
}

func (x *Index) partsSnapshot() []int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.parts
}

// hasAt reports whether a key with prefix and event time t exists, in the
// index or among the keys of the batch being built (seen).
func (x *Index) hasAt(prefix []byte, t int64, seen map[string]bool) (bool, error) {
	p := binary.BigEndian.AppendUint64(prefix, ^uint64(max(t, 0)))
	if seen[string(p)] {
		return true, nil
	}
	seen[string(p)] = true
	it, err := x.pdb.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: keyUpper(p)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	found := it.First()
	return found, it.Error()
}

// keyUpper is the smallest key greater than every key with prefix p.
func keyUpper(p []byte) []byte {
	u := append([]byte(nil), p...)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] != 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

// Expire enforces the retention period by dropping the weeks whose events
// are all older than it, then lets the journal delete the events every
// consumer has processed (the index keeps its own copy). It returns how
// many weeks and journal events it removed.
func (x *Index) Expire(ctx context.Context) (weeks int, events int64, err error) {
	cutoff := x.now().Add(-x.retention)
	x.mu.Lock()
	var old []int64
	for _, w := range x.parts {
		if (w+1)*weekSeconds <= cutoff.Unix() {
			old = append(old, w)
		}
	}
	x.mu.Unlock()
	for _, w := range old {
		b := x.pdb.NewBatch()
		start := []byte{indexPrefix}
		start = binary.BigEndian.AppendUint64(start, uint64(w))
		err := b.DeleteRange(start, keyUpper(start), nil)
		for _, u := range []unit{dayUnit, hourUnit} {
			// The histograms' versions and counts of the week.
			from, to := w*weekSeconds/u.seconds, (w+1)*weekSeconds/u.seconds
			err = errors.Join(err, b.DeleteRange(u.versionKey(from), u.versionKey(to), nil),
				b.DeleteRange(u.keptKey(from, 0), u.keptKey(to, 0), nil))
		}
		err = errors.Join(err, b.Delete(partKey(w), nil), b.Commit(pebble.Sync))
		b.Close()
		if err != nil {
			return weeks, 0, fmt.Errorf("drop history week %d: %w", w, err)
		}
		x.mu.Lock()
		x.parts = slices.DeleteFunc(x.parts, func(p int64) bool { return p == w })
		x.mu.Unlock()
		weeks++
	}
	// The journal keeps events until every consumer has passed them: tell
	// it how far the index is, once that is on disk.
	cp := x.indexed.Load()
	if err := x.pdb.LogData(nil, pebble.Sync); err != nil {
		return weeks, 0, fmt.Errorf("sync history index: %w", err)
	}
	if err := x.db.Update(ctx, func(tx *journal.Tx) error { return tx.SetCheckpoint(consumerName, cp) }); err != nil {
		return weeks, 0, err
	}
	events, err = x.db.DeleteConsumed(ctx)
	return weeks, events, err
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}

func isLockError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "resource temporarily unavailable") || strings.Contains(s, "lock held")
}
