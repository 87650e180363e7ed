package journal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opentrail/opentrail"
)

// Row is a committed journal event as consumers see it.
type Row struct {
	Seq   int64
	Scope int64 // the interned (account, region); see ScopeOf
	Time  time.Time
	flags int64
	sum   *opentrail.Summary
	enc   []byte
	dedup int64
}

// Category is the record's eventCategory.
func (r *Row) Category() string { return categoryNames[r.flags&7] }

// Origin says where the event came from.
func (r *Row) Origin() Origin { return Origin(r.flags >> 3 & 3) }

// History reports whether the event belongs in event history.
func (r *Row) History() bool { return r.flags&flagHistory != 0 }

// Trails reports whether trails may deliver the event.
func (r *Row) Trails() bool { return r.flags&flagTrails != 0 }

// Body returns the record JSON.
func (r *Row) Body() ([]byte, error) { return decodeBody(r.enc) }

// StoredBody returns the record as the journal stores it (compressed);
// DecodeBody turns it back into the record JSON.
func (r *Row) StoredBody() []byte { return r.enc }

// DecodeBody decodes a body returned by Row.StoredBody.
func DecodeBody(b []byte) ([]byte, error) { return decodeBody(b) }

// Summary returns the record's lookup attributes, parsing the record only
// when its appender did not provide them.
func (r *Row) Summary() (*opentrail.Summary, error) {
	if r.sum != nil {
		return r.sum, nil
	}
	body, err := r.Body()
	if err != nil {
		return nil, err
	}
	s, err := opentrail.Summarize(body)
	if err != nil {
		return nil, err
	}
	r.sum = &s
	return r.sum, nil
}

// DedupeKey is, for events loaded by `opentrail ingest` without an
// eventID, a hash of the record (to recognise the same record loaded
// twice); 0 otherwise.
func (r *Row) DedupeKey() int64 {
	if r.dedup == 0 && r.Origin() == OriginIngest {
		if body, err := r.Body(); err == nil {
			r.dedup = HashValue(string(body))
		}
	}
	return r.dedup
}

// Feed returns up to limit journal rows after seq, in order: from memory
// when the tail has them, else from the database.
func (db *DB) Feed(ctx context.Context, after int64, limit int) ([]Row, error) {
	if items := db.tail.from(after+1, limit); len(items) > 0 {
		out := make([]Row, len(items))
		for i, it := range items {
			out[i] = Row{Seq: it.seq, Scope: it.scope, Time: time.Unix(it.time, 0).UTC(), flags: it.flags, sum: it.sum, enc: it.enc, dedup: it.dedupe}
		}
		return out, nil
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT seq, time, scope, flags, body FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var t int64
		if err := rows.Scan(&r.Seq, &t, &r.Scope, &r.flags, &r.enc); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		r.Time = time.Unix(t, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// scopeNames caches scope id -> (account, region); scopes never change.
var scopeNames sync.Map

type scopeName struct{ account, region string }

// ScopeOf returns the account and region of a scope id.
func (db *DB) ScopeOf(ctx context.Context, id int64) (account, region string, err error) {
	if v, ok := scopeNames.Load(scopeCacheKey{db, id}); ok {
		n := v.(scopeName)
		return n.account, n.region, nil
	}
	err = db.rdb.QueryRowContext(ctx, "SELECT account, region FROM scopes WHERE id = ?", id).Scan(&account, &region)
	if err == sql.ErrNoRows {
		return "", "", fmt.Errorf("scope %d not found", id)
	}
	if err != nil {
		return "", "", fmt.Errorf("read scope: %w", err)
	}
	scopeNames.Store(scopeCacheKey{db, id}, scopeName{account, region})
	return account, region, nil
}

type scopeCacheKey struct {
	db *DB
	id int64
}

// DeleteConsumed deletes the journal events that every consumer has
// processed (each consumer keeps what it needs of them), in steps that do
// not hold the writer long. It returns how many it deleted. The newest
// event is kept, so that sequence numbers carry on from it.
func (db *DB) DeleteConsumed(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.Update(ctx, func(tx *Tx) error {
			res, err := tx.Exec(`DELETE FROM journal WHERE seq IN (
				SELECT seq FROM journal WHERE seq <= (SELECT coalesce(min(seq), 0) FROM checkpoints)
				AND seq < (SELECT max(seq) FROM journal) ORDER BY seq LIMIT 10000)`)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("delete consumed events: %w", err)
		}
		total += n
		if n < 10000 {
			return total, nil
		}
	}
}

// RunConsumer runs a journal consumer until ctx ends or run reports that
// it is done. run returns nil when ctx ended; after an error (a bucket
// down, a busy database) it runs again, after a pause that doubles from
// one second up to ten, each failure logged as "<what> failed; retrying".
func RunConsumer(ctx context.Context, log *slog.Logger, what string, run func(context.Context) (done bool, err error)) {
	backoff := time.Second
	for ctx.Err() == nil {
		done, err := run(ctx)
		if done || ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = time.Second
			continue
		}
		log.Warn(what+" failed; retrying", slog.String("err", err.Error()), slog.Duration("in", backoff))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
