package journal

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
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
	// Summary, when set, must be opentrail.Summarize(Body): a caller that
	// has the record's fields at hand passes them so that the history
	// index does not parse the record again.
	Summary *opentrail.Summary

	enc    []byte // Body as stored, set by Prepare
	dedupe int64  // see tailItem
}

// Prepare does the work of storing entries that needs no lock: it
// compresses their bodies. Callers that append many events call it before
// Update so that the single writer does not have to.
func Prepare(entries []Entry) {
	for i := range entries {
		e := &entries[i]
		if e.enc == nil {
			e.enc = encodeBody(e.Body)
		}
		if e.Origin == OriginIngest && (e.Summary == nil || e.Summary.EventID == "") {
			e.dedupe = HashValue(string(e.Body))
		}
	}
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
	Prepare(entries)
	const chunk = 64
	for len(entries) > 0 {
		n := min(len(entries), chunk)
		args := make([]any, 0, 4*n)
		items := make([]tailItem, n)
		for i := range entries[:n] {
			e := &entries[i]
			scope, err := tx.scope(e.Account, e.Region)
			if err != nil {
				return 0, err
			}
			flags := e.flags()
			args = append(args, e.Time.Unix(), scope, flags, e.enc)
			items[i] = tailItem{scope: scope, time: e.Time.Unix(), flags: flags, sum: e.Summary, enc: e.enc, dedupe: e.dedupe}
		}
		if tx.ins == nil {
			tx.ins = newMultiInsert(tx, 4)
		}
		res, err := tx.ins.exec("INSERT INTO journal (time, scope, flags, body)", n, args)
		if err != nil {
			return 0, fmt.Errorf("append events: %w", err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return 0, fmt.Errorf("append events: %w", err)
		}
		// One writer, AUTOINCREMENT: the rows of one INSERT get
		// consecutive numbers ending at the last one.
		for i := range items {
			items[i].seq = last - int64(n-1-i)
		}
		tx.appended = append(tx.appended, items...)
		tx.lastSeq = last
		entries = entries[n:]
	}
	return tx.lastSeq, nil
}

// HashValue is the 64-bit FNV-1a hash opentrail uses for index keys.
func HashValue(v string) int64 {
	h := fnv.New64a()
	h.Write([]byte(v))
	return int64(h.Sum64())
}

// Append adds events to the journal and returns once they are durable,
// with the sequence number of the last one.
func (db *DB) Append(ctx context.Context, entries ...Entry) (int64, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	Prepare(entries)
	var seq int64
	err := db.Update(ctx, func(tx *Tx) error {
		var err error
		seq, err = tx.Append(entries...)
		return err
	})
	return seq, err
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
	k := scopeKey{account, region}
	if v, ok := db.scopeIDs.Load(k); ok {
		return v.(int64), true, nil
	}
	var id int64
	err := db.rdb.QueryRowContext(ctx, "SELECT id FROM scopes WHERE account = ? AND region = ?", account, region).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find scope: %w", err)
	}
	db.scopeIDs.Store(k, id) // committed scopes never change
	return id, true, nil
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
