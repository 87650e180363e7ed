package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opentrail/opentrail"
)

// The event-history index lives in one table per week of event time
// (hist_<week>, week = unix seconds / 604800), so that retention drops whole
// tables instead of deleting rows one by one. Each indexed event has one row
// per lookup-attribute value plus one row (attr 0) for unfiltered lookups:
//
//	(hscope, attr, val, time, seq) PRIMARY KEY, WITHOUT ROWID
//
// hscope is the scope id times 2 plus the history class (0 management and
// channel events, 1 Insights). val is a 64-bit FNV-1a hash of the value;
// lookups check the record itself, so a hash collision can never return a
// wrong event.

const (
	historyConsumer = "history"
	weekSeconds     = 7 * 24 * 3600
)

// History classes.
const (
	classDefault = 0
	classInsight = 1
)

var attrCodes = map[string]int64{
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
// record bytes, so that loading the same file twice adds nothing.
const attrDedupe = 9

func hashValue(v string) int64 {
	h := fnv.New64a()
	h.Write([]byte(v))
	return int64(h.Sum64())
}

func histTable(week int64) string { return fmt.Sprintf("hist_%d", week) }

// History maintains and answers queries on the event-history index.
type History struct {
	db        *DB
	log       *slog.Logger
	retention time.Duration
	now       func() time.Time

	indexed atomic.Int64 // journal seq up to which the index is complete
	kick    chan struct{}

	mu      sync.Mutex
	parts   []int64       // existing partitions, ascending
	partsCh chan struct{} // closed and replaced when indexed advances
}

// HistoryOptions configure History.
type HistoryOptions struct {
	// Retention is how long events stay searchable (default 90 days).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultRetention is event history's retention, as AWS's.
const DefaultRetention = 90 * 24 * time.Hour

// History returns the event-history index of db. Call Run to keep it up to
// date.
func (db *DB) History(ctx context.Context, opts HistoryOptions) (*History, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &History{db: db, log: db.log.With(slog.String("component", "history")), retention: opts.Retention,
		now: opts.Now, kick: make(chan struct{}, 1), partsCh: make(chan struct{})}
	cp, err := db.Checkpoint(ctx, historyConsumer)
	if err != nil {
		return nil, err
	}
	h.indexed.Store(cp)
	if err := h.loadParts(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *History) loadParts(ctx context.Context) error {
	rows, err := h.db.rdb.QueryContext(ctx, "SELECT part FROM hist_parts ORDER BY part")
	if err != nil {
		return fmt.Errorf("list history partitions: %w", err)
	}
	defer rows.Close()
	var parts []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return fmt.Errorf("list history partitions: %w", err)
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list history partitions: %w", err)
	}
	h.mu.Lock()
	h.parts = parts
	h.mu.Unlock()
	return nil
}

// Retention is how far back events are searchable.
func (h *History) Retention() time.Duration { return h.retention }

// Indexed returns the journal sequence number up to which the index is complete.
func (h *History) Indexed() int64 { return h.indexed.Load() }

// Run indexes journal events as they are committed, until ctx ends.
func (h *History) Run(ctx context.Context) error {
	for {
		n, err := h.IndexOnce(ctx, 5000)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Error("index events", slog.String("err", err.Error()))
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
		_, err = h.db.WaitHead(wctx, h.indexed.Load())
		cancel()
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil
		}
	}
}

// CatchUp indexes until the index covers the journal head as it was when
// CatchUp was called, reporting progress to fn (which may be nil).
func (h *History) CatchUp(ctx context.Context, fn func(indexed, head int64)) error {
	head := h.db.Head()
	for h.indexed.Load() < head {
		if _, err := h.IndexOnce(ctx, 20000); err != nil {
			return err
		}
		if fn != nil {
			fn(h.indexed.Load(), head)
		}
	}
	return nil
}

// WaitFor blocks until the index covers journal sequence seq, or ctx ends.
func (h *History) WaitFor(ctx context.Context, seq int64) error {
	for {
		h.mu.Lock()
		ch := h.partsCh
		h.mu.Unlock()
		if h.indexed.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type histRow struct {
	week                    int64
	hscope, attr, val, time int64
	seq                     int64
}

// IndexOnce indexes up to limit journal events after the checkpoint and
// returns how many journal rows it consumed.
func (h *History) IndexOnce(ctx context.Context, limit int) (int, error) {
	after := h.indexed.Load()
	// Read only what event history needs: flags first, bodies only of
	// history events.
	rows, err := h.db.rdb.QueryContext(ctx, `
		SELECT seq, time, scope, flags, CASE WHEN flags & ? != 0 THEN body END
		FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, flagHistory, after, limit)
	if err != nil {
		return 0, fmt.Errorf("read journal: %w", err)
	}
	type item struct {
		seq, time, scope, flags int64
		body                    []byte
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.seq, &it.time, &it.scope, &it.flags, &it.body); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read journal: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read journal: %w", err)
	}
	if len(items) == 0 {
		return 0, nil
	}
	cutoff := h.now().Add(-h.retention).Unix()
	var events []histEvent
	for _, it := range items {
		if it.flags&flagHistory == 0 || it.time < cutoff {
			continue
		}
		body, err := decodeBody(it.body)
		if err != nil {
			h.log.Warn("skip undecodable event", slog.Int64("seq", it.seq), slog.String("err", err.Error()))
			continue
		}
		sum, err := opentrail.Summarize(body)
		if err != nil {
			h.log.Warn("skip invalid event", slog.Int64("seq", it.seq), slog.String("err", err.Error()))
			continue
		}
		class := int64(classDefault)
		if sum.Category == opentrail.CategoryInsight {
			class = classInsight
		}
		base := histRow{week: it.time / weekSeconds, hscope: it.scope*2 + class, time: it.time, seq: it.seq}
		ev := histEvent{rows: []histRow{base}}
		for _, a := range opentrail.LookupAttributes {
			for _, v := range sum.Values(a) {
				r := base
				r.attr, r.val = attrCodes[a], hashValue(v)
				ev.rows = append(ev.rows, r)
			}
		}
		if Origin(it.flags>>3&3) == OriginIngest {
			// Loading the same log twice must not list an event twice.
			d := base
			if sum.EventID != "" {
				d.attr, d.val = attrCodes[opentrail.AttrEventID], hashValue(sum.EventID)
			} else {
				d.attr, d.val = attrDedupe, hashValue(string(body))
				ev.rows = append(ev.rows, d)
			}
			ev.dedupe = &d
		}
		events = append(events, ev)
	}
	last := items[len(items)-1].seq
	var newParts []int64
	err = h.db.Update(ctx, func(tx *Tx) error {
		var err error
		newParts, err = h.write(tx, events)
		if err != nil {
			return err
		}
		return tx.SetCheckpoint(historyConsumer, last)
	})
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	for _, p := range newParts {
		if !slices.Contains(h.parts, p) {
			h.parts = append(h.parts, p)
		}
	}
	sort.Slice(h.parts, func(i, j int) bool { return h.parts[i] < h.parts[j] })
	h.indexed.Store(last)
	close(h.partsCh)
	h.partsCh = make(chan struct{})
	h.mu.Unlock()
	return len(items), nil
}

// histEvent is the index rows of one event; dedupe, when set, is a row whose
// presence means the event is already indexed.
type histEvent struct {
	rows   []histRow
	dedupe *histRow
}

// write inserts the rows of one batch and returns the partitions it created.
func (h *History) write(tx *Tx, events []histEvent) ([]int64, error) {
	stmts := map[int64]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	var created []int64
	stmt := func(week int64) (*sql.Stmt, error) {
		if s, ok := stmts[week]; ok {
			return s, nil
		}
		t := histTable(week)
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS ` + t + ` (
			hscope INTEGER NOT NULL, attr INTEGER NOT NULL, val INTEGER NOT NULL,
			time INTEGER NOT NULL, seq INTEGER NOT NULL,
			PRIMARY KEY (hscope, attr, val, time, seq)) WITHOUT ROWID`); err != nil {
			return nil, fmt.Errorf("create %s: %w", t, err)
		}
		if _, err := tx.Exec("INSERT OR IGNORE INTO hist_parts (part) VALUES (?)", week); err != nil {
			return nil, fmt.Errorf("register %s: %w", t, err)
		}
		created = append(created, week)
		s, err := tx.tx.PrepareContext(tx.ctx, "INSERT OR IGNORE INTO "+t+" (hscope, attr, val, time, seq) VALUES (?, ?, ?, ?, ?)")
		if err != nil {
			return nil, fmt.Errorf("prepare insert into %s: %w", t, err)
		}
		stmts[week] = s
		return s, nil
	}
	for _, ev := range events {
		if d := ev.dedupe; d != nil {
			if _, err := stmt(d.week); err != nil { // the table must exist to be asked
				return nil, err
			}
			var n int
			err := tx.QueryRow("SELECT count(*) FROM (SELECT 1 FROM "+histTable(d.week)+
				" WHERE hscope = ? AND attr = ? AND val = ? AND time = ? LIMIT 1)", d.hscope, d.attr, d.val, d.time).Scan(&n)
			if err != nil {
				return nil, fmt.Errorf("check duplicate: %w", err)
			}
			if n > 0 {
				continue
			}
		}
		for _, r := range ev.rows {
			s, err := stmt(r.week)
			if err != nil {
				return nil, err
			}
			if _, err := s.Exec(r.hscope, r.attr, r.val, r.time, r.seq); err != nil {
				return nil, fmt.Errorf("index event %d: %w", r.seq, err)
			}
		}
	}
	return created, nil
}

// Expire enforces the retention period: it drops the index partitions whose
// events are all older than it and deletes journal events older than it
// that every consumer has processed. It returns how many partitions and
// events it removed.
func (h *History) Expire(ctx context.Context) (parts int, events int64, err error) {
	cutoff := h.now().Add(-h.retention).Unix()
	h.mu.Lock()
	var old []int64
	for _, p := range h.parts {
		if (p+1)*weekSeconds <= cutoff {
			old = append(old, p)
		}
	}
	h.mu.Unlock()
	for _, p := range old {
		err := h.db.Update(ctx, func(tx *Tx) error {
			if _, err := tx.Exec("DROP TABLE IF EXISTS " + histTable(p)); err != nil {
				return err
			}
			_, err := tx.Exec("DELETE FROM hist_parts WHERE part = ?", p)
			return err
		})
		if err != nil {
			return parts, events, fmt.Errorf("drop history partition %d: %w", p, err)
		}
		h.mu.Lock()
		h.parts = slices.DeleteFunc(h.parts, func(x int64) bool { return x == p })
		h.mu.Unlock()
		parts++
	}
	for {
		var n int64
		err := h.db.Update(ctx, func(tx *Tx) error {
			res, err := tx.Exec(`DELETE FROM journal WHERE seq IN (
				SELECT seq FROM journal WHERE time < ? AND seq <= (SELECT coalesce(min(seq), 0) FROM checkpoints)
				ORDER BY seq LIMIT 10000)`, cutoff)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return parts, events, fmt.Errorf("delete expired events: %w", err)
		}
		events += n
		if n < 10000 {
			return parts, events, nil
		}
	}
}
