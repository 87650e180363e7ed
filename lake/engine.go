// Package lake is opentrail's CloudTrail Lake engine: event data stores as
// DuckDB tables, ingestion with an exactly-once journal checkpoint, and
// CloudTrail Lake SQL (Trino flavoured) checked, translated and run in a
// sandbox. The database lives in one file, lake.duckdb, in the directory
// given to Open; query results are kept in the same file until DropResults.
package lake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// ErrStoreNotFound is returned for operations on a store that was never
// created or was dropped. Callers map it to EventDataStoreNotFoundException.
var ErrStoreNotFound = errors.New("lake: event data store not found")

// Options configure an Engine. The zero value is usable.
type Options struct {
	// MaxConcurrentQueries bounds the DuckDB connections that run queries
	// (default 10, AWS's per-account limit).
	MaxConcurrentQueries int
	// Threads is DuckDB's worker thread count (default: DuckDB's choice).
	Threads int
	// MemoryLimit is DuckDB's memory_limit, e.g. "2GB" (default: DuckDB's).
	MemoryLimit string
}

// Engine is an open lake. Its methods are safe for concurrent use.
type Engine struct {
	dir     string
	conn    *duckdb.Connector
	db      *sql.DB // ingestion, DDL, results
	queries *sql.DB // sandboxed user queries only

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per-store append lock

	zstd bool // the database file's format has ZSTD strings (see physicalDDL)
}

// Open opens (creating if needed) the lake in dir. The database is locked
// to this process until Close.
func Open(dir string, opts Options) (*Engine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lake dir: %w", err)
	}
	// A database file created with the latest storage format gets DuckDB's
	// newer compression (ZSTD and DICT_FSST strings): about a tenth of the
	// disk the default (v0.10.2) format takes for the same events. A file
	// created by an earlier version keeps its format.
	dsn := filepath.Join(dir, "lake.duckdb") + "?autoinstall_known_extensions=false&autoload_known_extensions=false&storage_compatibility_version=latest"
	if opts.Threads > 0 {
		dsn += fmt.Sprintf("&threads=%d", opts.Threads)
	}
	if opts.MemoryLimit != "" {
		dsn += "&memory_limit=" + opts.MemoryLimit
	}
	conn, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("open lake database: %w", err)
	}
	e := &Engine{dir: dir, conn: conn, locks: map[string]*sync.Mutex{}}
	e.db = sql.OpenDB(conn)
	e.db.SetMaxOpenConns(4)
	e.queries = sql.OpenDB(conn)
	n := opts.MaxConcurrentQueries
	if n <= 0 {
		n = 10
	}
	e.queries.SetMaxOpenConns(n)
	e.queries.SetMaxIdleConns(n)
	if err := e.setup(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) setup() error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS lake_stores (id VARCHAR PRIMARY KEY, seq BIGINT NOT NULL, events BIGINT NOT NULL, bytes BIGINT NOT NULL)`,
		`CREATE SCHEMA IF NOT EXISTS results`,
		`CREATE TABLE IF NOT EXISTS lake_results (id VARCHAR PRIMARY KEY, columns VARCHAR NOT NULL, rows BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS lake_imports (store VARCHAR NOT NULL, source VARCHAR NOT NULL, events BIGINT NOT NULL, PRIMARY KEY (store, source))`,
	}
	stmts = append(stmts, macros...)
	// The sandbox: no files, no extensions, and nobody may change that.
	stmts = append(stmts,
		// Fewer, larger checkpoints: ingestion commits often, and every
		// checkpoint rewrites the row group still filling, whose old
		// blocks stay in the file as free space. With 256 MB, a store
		// of 1 million imported events had a quarter of its file free;
		// with 1 GB, almost none. The cost: up to 1 GB of WAL to replay
		// after a crash.
		`SET checkpoint_threshold = '1GB'`,
		`SET enable_external_access = false`,
		`SET lock_configuration = true`,
	)
	for _, s := range stmts {
		if _, err := e.db.Exec(s); err != nil {
			return fmt.Errorf("set up lake: %s: %w", firstLine(s), err)
		}
	}
	// Files created before storage format v1.2.0 have no ZSTD strings.
	var version string
	if err := e.db.QueryRow(`SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()`).Scan(&version); err != nil {
		return fmt.Errorf("set up lake: storage version: %w", err)
	}
	e.zstd = !strings.HasPrefix(version, "v0.") && !strings.HasPrefix(version, "v1.0.") && !strings.HasPrefix(version, "v1.1.")
	return e.upgrade()
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' || i > 60 {
			return s[:i]
		}
	}
	return s
}

// Close closes the database. Queries still running are interrupted.
func (e *Engine) Close() error {
	var errs []error
	if e.queries != nil {
		errs = append(errs, e.queries.Close())
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	errs = append(errs, e.conn.Close())
	return errors.Join(errs...)
}

func (e *Engine) lock(id string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.locks[id]
	if !ok {
		l = &sync.Mutex{}
		e.locks[id] = l
	}
	return l
}

// CreateStore creates the table of store id (an event data store UUID). It
// is idempotent: an existing store keeps its events and checkpoint.
func (e *Engine) CreateStore(ctx context.Context, id string) error {
	if !validStoreID(id) {
		return fmt.Errorf("lake: invalid event data store id %q", id)
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+dataTable(id)+` (`+physicalDDL(e.zstd)+`)`); err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, createView(id)); err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, createFlatView(id)); err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lake_stores VALUES (?, 0, 0, 0) ON CONFLICT DO NOTHING`, id); err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create store %s: %w", id, err)
	}
	return nil
}

// DropStore deletes store id and all its events. Dropping a missing store
// is not an error. Retention and termination protection are the caller's
// to enforce before calling.
func (e *Engine) DropStore(ctx context.Context, id string) error {
	if !validStoreID(id) {
		return fmt.Errorf("lake: invalid event data store id %q", id)
	}
	l := e.lock(id)
	l.Lock()
	defer l.Unlock()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS `+storeTable(id)); err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS `+flatTable(id)); err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+dataTable(id)); err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM lake_stores WHERE id = ?`, id); err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM lake_imports WHERE store = ?`, id); err != nil {
		return fmt.Errorf("drop store %s: %w", id, err)
	}
	return tx.Commit()
}

// Stores returns the IDs of all stores.
func (e *Engine) Stores(ctx context.Context) ([]string, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM lake_stores ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Append adds events (CloudTrail record JSON bodies, one per element) to
// store id and records upTo, the journal sequence the batch ends at, in the
// same transaction. A batch whose upTo is not above the store's checkpoint
// was already applied and is skipped, so a consumer that resumes from
// Checkpoint after a crash neither loses nor duplicates events. Elements
// that are not JSON objects are skipped (they cannot be records). Events are
// queryable as soon as Append returns.
func (e *Engine) Append(ctx context.Context, id string, upTo int64, events [][]byte) error {
	if !validStoreID(id) {
		return ErrStoreNotFound
	}
	l := e.lock(id)
	l.Lock()
	defer l.Unlock()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("append to %s: %w", id, err)
	}
	defer conn.Close()
	var seq int64
	if err := conn.QueryRowContext(ctx, `SELECT seq FROM lake_stores WHERE id = ?`, id).Scan(&seq); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrStoreNotFound
		}
		return fmt.Errorf("append to %s: %w", id, err)
	}
	if upTo <= seq {
		return nil
	}
	_, err = e.insert(ctx, conn, id, events, func(tx *sql.Conn, b batch) error {
		_, err := tx.ExecContext(ctx, `UPDATE lake_stores SET seq = ?, events = events + ?, bytes = bytes + ? WHERE id = ? AND seq = ?`, upTo, b.added, b.size, id, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("append to %s: %w", id, err)
	}
	return nil
}

// insert stores the JSON objects among events in store id and runs
// bookkeeping (given what was stored: the rows added, their JSON size,
// the elements skipped) in the same transaction, which it then commits.
// The caller holds the store's lock.
//
// Records the extractor reads are appended as rows straight into the data
// table; the others are staged and converted by DuckDB (insertPhysical).
// Both happen in one transaction, begun on conn by hand because DuckDB's
// appender writes through the connection's current transaction.
func (e *Engine) insert(ctx context.Context, conn *sql.Conn, id string, events [][]byte, bookkeeping func(conn *sql.Conn, b batch) error) (added int64, err error) {
	if _, err := conn.ExecContext(ctx, `BEGIN TRANSACTION`); err != nil {
		return 0, err
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	var b batch
	var rest [][]byte
	err = conn.Raw(func(dc any) error {
		// The extractors read records while this goroutine appends
		// rows, with an appender for the columns the rows fill (the
		// others get NULL), kept while the next run fills the same ones.
		chunks := make(chan extracted, 4)
		stop := make(chan struct{})
		defer close(stop)
		go extractAll(events, chunks, stop)
		var a *duckdb.Appender
		var cols colSet
		for c := range chunks {
			b.size += c.size
			b.skipped = append(b.skipped, c.skipped...)
			rest = append(rest, c.rest...)
			if len(c.rows) == 0 {
				continue
			}
			if a == nil || c.cols != cols {
				if a != nil {
					if err := a.Close(); err != nil {
						return err
					}
				}
				var err error
				a, err = duckdb.NewAppenderWithColumns(dc.(driver.Conn), "", "", dataTableName(id), c.cols.names())
				if err != nil {
					return err
				}
				cols = c.cols
			}
			for _, row := range c.rows {
				if err := a.AppendRow(row...); err != nil {
					a.Close()
					return err
				}
			}
			added += int64(len(c.rows))
		}
		if a == nil {
			return nil
		}
		return a.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("append rows: %w", err)
	}
	if len(rest) > 0 {
		n, err := e.insertThroughDuckDB(ctx, conn, id, rest)
		if err != nil {
			return 0, err
		}
		added += n
	}
	b.added = added
	if err := bookkeeping(conn, b); err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return 0, err
	}
	committed = true
	return added, nil
}

// batch is what insert stored: the rows added, the JSON size of their
// records, and the indexes of the elements it skipped (not JSON objects).
type batch struct {
	added, size int64
	skipped     []int
}

// insertThroughDuckDB converts records with DuckDB's json_transform and
// inserts them into store id, in the transaction open on conn.
func (e *Engine) insertThroughDuckDB(ctx context.Context, conn *sql.Conn, id string, events [][]byte) (int64, error) {
	// Stage the raw records through DuckDB's appender (a connection-local
	// temporary table: it never reaches the database file), then convert
	// and insert them. The table is dropped after use, not emptied: DuckDB
	// keeps deleted rows of a temporary table, and every later batch would
	// scan them.
	if _, err := conn.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE staging (raw VARCHAR)`); err != nil {
		return 0, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS staging`)
	err := conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "staging")
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := a.AppendRow(string(ev)); err != nil {
				a.Close()
				return err
			}
		}
		return a.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("stage: %w", err)
	}
	res, err := conn.ExecContext(ctx, insertPhysical(id, "staging"))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// isObject reports whether b is one valid JSON object: records are, and a
// body that is not cannot be queried, so Append skips it rather than fail
// the whole batch (and block the journal consumer) on it.
func isObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return json.Valid(b)
		}
		return false
	}
	return false
}

// Checkpoint returns the journal sequence of the last batch appended to
// store id (0 for a new store).
func (e *Engine) Checkpoint(ctx context.Context, id string) (int64, error) {
	var seq int64
	err := e.db.QueryRowContext(ctx, `SELECT seq FROM lake_stores WHERE id = ?`, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrStoreNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint of %s: %w", id, err)
	}
	return seq, nil
}

// StoreStats are a store's size figures.
type StoreStats struct {
	Events int64 // events held
	Bytes  int64 // total size of their JSON records
}

// Stats returns the size of store id.
func (e *Engine) Stats(ctx context.Context, id string) (StoreStats, error) {
	var st StoreStats
	err := e.db.QueryRowContext(ctx, `SELECT events, bytes FROM lake_stores WHERE id = ?`, id).Scan(&st.Events, &st.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrStoreNotFound
	}
	if err != nil {
		return st, fmt.Errorf("stats of %s: %w", id, err)
	}
	return st, nil
}

// Expire deletes the events of store id whose eventTime is before before,
// and returns how many it deleted. It is the only way events leave a store
// short of DropStore; the caller passes now minus the retention period.
// Events without a parseable eventTime are kept.
func (e *Engine) Expire(ctx context.Context, id string, before time.Time) (int64, error) {
	if !validStoreID(id) {
		return 0, ErrStoreNotFound
	}
	l := e.lock(id)
	l.Lock()
	defer l.Unlock()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("expire %s: %w", id, err)
	}
	defer tx.Rollback()
	var size sql.NullInt64
	cut := before.UTC().Format("2006-01-02 15:04:05.999999")
	if err := tx.QueryRowContext(ctx, `SELECT sum(strlen(eventjson)) FROM `+storeTable(id)+` WHERE eventtime < CAST(? AS TIMESTAMP)`, cut).Scan(&size); err != nil {
		return 0, fmt.Errorf("expire %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM `+dataTable(id)+` WHERE eventtime < CAST(? AS TIMESTAMP)`, cut)
	if err != nil {
		return 0, fmt.Errorf("expire %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE lake_stores SET events = events - ?, bytes = bytes - ? WHERE id = ?`, n, size.Int64, id); err != nil {
		return 0, fmt.Errorf("expire %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("expire %s: %w", id, err)
	}
	return n, nil
}
