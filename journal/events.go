package journal

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/opentrail/opentrail"
)

// Origin says where an event came from; consumers use it to decide what
// they take (trails deliver what opentrail recorded and what channels route
// to them, not historical logs loaded with `opentrail ingest`).
type Origin uint8

const (
	// OriginAPI: recorded by opentrail for a call it served.
	OriginAPI Origin = iota
	// OriginChannel: arrived through PutAuditEvents on a channel.
	OriginChannel
	// OriginIngest: loaded from log files by `opentrail ingest`.
	OriginIngest
)

// Entry is an event on its way into the journal.
type Entry struct {
	// Account and Region place the event: whose event history and trails it
	// belongs to. They need not equal the record's own fields (a real AWS log
	// ingested into another account keeps its recipientAccountId).
	Account string
	Region  string
	// Time is the record's eventTime.
	Time time.Time
	// Category is the record's eventCategory.
	Category string
	Origin   Origin
	// History says the event belongs in event history (LookupEvents).
	History bool
	// Trails says trails may deliver the event (each trail's selectors decide).
	Trails bool
	// Body is the record JSON, exactly as it will be delivered.
	Body []byte
}

// Stored is an entry read back from the journal.
type Stored struct {
	Seq int64
	Entry
}

// flags layout: bits 0-2 category, bits 3-4 origin, bit 5 history, bit 6 trails.
const (
	flagHistory = 1 << 5
	flagTrails  = 1 << 6
)

var categoryCodes = map[string]int64{
	opentrail.CategoryManagement:       1,
	opentrail.CategoryData:             2,
	opentrail.CategoryInsight:          3,
	opentrail.CategoryActivityAuditLog: 4,
	opentrail.CategoryNetworkActivity:  5,
}

var categoryNames = map[int64]string{1: opentrail.CategoryManagement, 2: opentrail.CategoryData,
	3: opentrail.CategoryInsight, 4: opentrail.CategoryActivityAuditLog, 5: opentrail.CategoryNetworkActivity}

func (e *Entry) flags() int64 {
	f := categoryCodes[e.Category] | int64(e.Origin&3)<<3
	if e.History {
		f |= flagHistory
	}
	if e.Trails {
		f |= flagTrails
	}
	return f
}

func (e *Entry) setFlags(f int64) {
	e.Category = categoryNames[f&7]
	e.Origin = Origin(f >> 3 & 3)
	e.History = f&flagHistory != 0
	e.Trails = f&flagTrails != 0
}

// Append adds events to the journal in the transaction and returns the
// sequence number of the last one.
func (tx *Tx) Append(entries ...Entry) (int64, error) {
	for i := range entries {
		e := &entries[i]
		scope, err := tx.scope(e.Account, e.Region)
		if err != nil {
			return 0, err
		}
		res, err := tx.appendStmt.ExecContext(tx.ctx, e.Time.Unix(), scope, e.flags(), encodeBody(e.Body))
		if err != nil {
			return 0, fmt.Errorf("append event: %w", err)
		}
		if tx.lastSeq, err = res.LastInsertId(); err != nil {
			return 0, fmt.Errorf("append event: %w", err)
		}
	}
	return tx.lastSeq, nil
}

// Append adds events to the journal and returns once they are durable.
func (db *DB) Append(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	return db.Update(ctx, func(tx *Tx) error {
		_, err := tx.Append(entries...)
		return err
	})
}

// scope returns the id of (account, region), creating it in tx if new.
func (tx *Tx) scope(account, region string) (int64, error) {
	k := scopeKey{account, region}
	if v, ok := tx.db.scopes.Load(k); ok {
		return v.(int64), nil
	}
	var id int64
	err := tx.tx.QueryRowContext(tx.ctx, "SELECT id FROM scopes WHERE account = ? AND region = ?", account, region).Scan(&id)
	if err == sql.ErrNoRows {
		res, err2 := tx.tx.ExecContext(tx.ctx, "INSERT INTO scopes (account, region) VALUES (?, ?)", account, region)
		if err2 != nil {
			return 0, fmt.Errorf("create scope: %w", err2)
		}
		id, err = res.LastInsertId()
	}
	if err != nil {
		return 0, fmt.Errorf("find scope: %w", err)
	}
	tx.db.scopes.Store(k, id)
	return id, nil
}

// ScopeID returns the id of (account, region) as committed, and false when
// no event was ever recorded there.
func (db *DB) ScopeID(ctx context.Context, account, region string) (int64, bool, error) {
	var id int64
	err := db.rdb.QueryRowContext(ctx, "SELECT id FROM scopes WHERE account = ? AND region = ?", account, region).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find scope: %w", err)
	}
	return id, true, nil
}

// Read returns up to limit events with sequence numbers above after, in
// order.
func (db *DB) Read(ctx context.Context, after int64, limit int) ([]Stored, error) {
	rows, err := db.rdb.QueryContext(ctx, `
		SELECT j.seq, j.time, j.flags, j.body, s.account, s.region
		FROM journal j JOIN scopes s ON s.id = j.scope
		WHERE j.seq > ? ORDER BY j.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var s Stored
		var t, f int64
		var body []byte
		if err := rows.Scan(&s.Seq, &t, &f, &body, &s.Account, &s.Region); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		s.Time = time.Unix(t, 0).UTC()
		s.setFlags(f)
		if s.Body, err = decodeBody(body); err != nil {
			return nil, fmt.Errorf("read journal event %d: %w", s.Seq, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Bodies returns the record JSON of the given events, keyed by sequence
// number; events that no longer exist are absent.
func (db *DB) Bodies(ctx context.Context, seqs []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	q := make([]byte, 0, 64+2*len(seqs))
	q = append(q, "SELECT seq, body FROM journal WHERE seq IN ("...)
	args := make([]any, len(seqs))
	for i, s := range seqs {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, '?')
		args[i] = s
	}
	q = append(q, ')')
	rows, err := db.rdb.QueryContext(ctx, string(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		if out[seq], err = decodeBody(body); err != nil {
			return nil, fmt.Errorf("read event %d: %w", seq, err)
		}
	}
	return out, rows.Err()
}

// Checkpoint returns a consumer's checkpoint (0 when it never ran).
func (db *DB) Checkpoint(ctx context.Context, consumer string) (int64, error) {
	var seq int64
	err := db.rdb.QueryRowContext(ctx, "SELECT seq FROM checkpoints WHERE consumer = ?", consumer).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", consumer, err)
	}
	return seq, nil
}

// SetCheckpoint stores a consumer's checkpoint in the transaction.
func (tx *Tx) SetCheckpoint(consumer string, seq int64) error {
	_, err := tx.Exec(`INSERT INTO checkpoints (consumer, seq) VALUES (?, ?)
		ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq`, consumer, seq)
	if err != nil {
		return fmt.Errorf("store checkpoint %s: %w", consumer, err)
	}
	return nil
}
