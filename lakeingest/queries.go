package lakeingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// Query statuses, as CloudTrail names them.
const (
	QueryQueued    = "QUEUED"
	QueryRunning   = "RUNNING"
	QueryFinished  = "FINISHED"
	QueryFailed    = "FAILED"
	QueryCancelled = "CANCELLED"
	QueryTimedOut  = "TIMED_OUT"
)

// QueryRetention is how long a query and its results are kept (AWS: 7 days).
const QueryRetention = 7 * 24 * time.Hour

// Query is the record of a StartQuery.
type Query struct {
	ID             string
	Account        string
	Region         string
	Stores         []string // IDs of the stores the statement reads
	Statement      string
	Status         string
	Created        time.Time
	Finished       time.Time // zero while queued or running
	Error          string
	DeliveryURI    string
	DeliveryStatus string
	EventsMatched  int64
	EventsScanned  int64
	BytesScanned   int64
	ExecTime       time.Duration
}

// Active reports whether the query is queued or running.
func (q *Query) Active() bool { return q.Status == QueryQueued || q.Status == QueryRunning }

// Reads reports whether the query reads store id.
func (q *Query) Reads(id string) bool {
	for _, s := range q.Stores {
		if s == id {
			return true
		}
	}
	return false
}

const queryColumns = `id, account, region, stores, statement, status, created, finished, error,
	delivery_uri, delivery_status, events_matched, events_scanned, bytes_scanned, exec_ms`

func scanQuery(sc interface{ Scan(...any) error }) (*Query, error) {
	var q Query
	var stores string
	var created, finished, execMS int64
	if err := sc.Scan(&q.ID, &q.Account, &q.Region, &stores, &q.Statement, &q.Status, &created, &finished, &q.Error,
		&q.DeliveryURI, &q.DeliveryStatus, &q.EventsMatched, &q.EventsScanned, &q.BytesScanned, &execMS); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(stores), &q.Stores); err != nil {
		return nil, fmt.Errorf("decode query: %w", err)
	}
	q.Created = time.UnixMilli(created).UTC()
	if finished > 0 {
		q.Finished = time.UnixMilli(finished).UTC()
	}
	q.ExecTime = time.Duration(execMS) * time.Millisecond
	return &q, nil
}

func queryArgs(q *Query) []any {
	stores, _ := json.Marshal(q.Stores)
	var finished int64
	if !q.Finished.IsZero() {
		finished = q.Finished.UnixMilli()
	}
	return []any{q.ID, q.Account, q.Region, string(stores), q.Statement, q.Status, q.Created.UnixMilli(), finished, q.Error,
		q.DeliveryURI, q.DeliveryStatus, q.EventsMatched, q.EventsScanned, q.BytesScanned, q.ExecTime.Milliseconds()}
}

// PutQuery stores q, replacing its earlier state.
func PutQuery(tx *journal.Tx, q *Query) error {
	_, err := tx.Exec(`INSERT OR REPLACE INTO lake_queries (`+queryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, queryArgs(q)...)
	if err != nil {
		return fmt.Errorf("store query: %w", err)
	}
	return nil
}

// ActiveQueries counts an account's queued and running queries.
func ActiveQueries(tx *journal.Tx, account string) (int, error) {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM lake_queries WHERE account = ? AND status IN ('QUEUED', 'RUNNING')`, account).Scan(&n)
	return n, err
}

// CountActive counts an account's committed queued and running queries.
func CountActive(ctx context.Context, db *journal.DB, account string) (int, error) {
	var n int
	err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM lake_queries WHERE account = ? AND status IN ('QUEUED', 'RUNNING')`, account).Scan(&n)
	return n, err
}

// GetQuery reads a query; nil when there is none.
func GetQuery(ctx context.Context, db *journal.DB, id string) (*Query, error) {
	q, err := scanQuery(db.Reader().QueryRowContext(ctx, `SELECT `+queryColumns+` FROM lake_queries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return q, err
}

// TxQuery reads a query in the transaction; nil when there is none.
func TxQuery(tx *journal.Tx, id string) (*Query, error) {
	q, err := scanQuery(tx.QueryRow(`SELECT `+queryColumns+` FROM lake_queries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return q, err
}

// Queries lists an account's queries in a region created at or after
// since, newest first.
func Queries(ctx context.Context, db *journal.DB, account, region string, since time.Time) ([]*Query, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT `+queryColumns+` FROM lake_queries
		WHERE account = ? AND region = ? AND created >= ? ORDER BY created DESC, id`, account, region, since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list queries: %w", err)
	}
	defer rows.Close()
	var out []*Query
	for rows.Next() {
		q, err := scanQuery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// FailInterrupted marks the queries a stopped server left queued or
// running as failed; their results are incomplete. Call it at start-up,
// before queries are accepted.
func FailInterrupted(ctx context.Context, db *journal.DB, now time.Time) error {
	return db.Update(ctx, func(tx *journal.Tx) error {
		_, err := tx.Exec(`UPDATE lake_queries SET status = 'FAILED', finished = ?,
			error = 'The query was interrupted by a restart of the server.',
			delivery_status = CASE WHEN delivery_uri = '' THEN '' ELSE 'FAILED' END
			WHERE status IN ('QUEUED', 'RUNNING')`, now.UnixMilli())
		return err
	})
}

// expiredQueries lists the queries created before before.
func expiredQueries(ctx context.Context, db *journal.DB, before time.Time) ([]string, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT id FROM lake_queries WHERE created < ? AND status NOT IN ('QUEUED', 'RUNNING')`, before.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
