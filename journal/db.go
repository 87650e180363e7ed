// Package journal is opentrail's embedded store: one SQLite database in WAL
// mode that holds the control-plane state (accounts, access keys, channels,
// consumer checkpoints, ...), the event journal (every recorded event,
// numbered in commit order) and the event-history index built from it.
//
// All writes go through one writer goroutine that groups the transactions
// submitted concurrently into one SQLite commit (group commit). A state change
// and the events that record it are written by the same job, so they commit
// together or not at all. Readers use a pool of read-only connections and see
// only committed data.
//
// Everything downstream of the journal is a consumer with a durable
// checkpoint (see Consumer): it reads events after its checkpoint and stores
// its new checkpoint, in the same transaction as its outputs where those live
// in this database.
package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Options tune a DB. The zero value is usable.
type Options struct {
	// Logger receives the store's structured logs; nil discards them.
	Logger *slog.Logger
	// Synchronous is SQLite's synchronous setting: "FULL" (default: a commit
	// is on disk before it is acknowledged, surviving power loss) or
	// "NORMAL" (survives a crash of the process, not of the machine).
	Synchronous string
	// CacheMiB is the page cache per connection in MiB (default 32).
	CacheMiB int
	// Readers is the number of read connections (default 2*GOMAXPROCS, at least 4).
	Readers int
	// MaxBatch bounds how many jobs one commit groups (default 256).
	MaxBatch int
	// Migrations are the schema changes of other packages (their tables).
	Migrations []Migration
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	path string
	log  *slog.Logger
	rdb  *sql.DB
	wdb  *sql.DB
	cdb  *sql.DB // one connection that only checkpoints the WAL

	jobs     chan *job
	maxBatch int
	closed   chan struct{}
	wg       sync.WaitGroup

	head   atomic.Int64 // highest journal seq known to be committed
	mu     sync.Mutex
	headCh chan struct{} // closed and replaced whenever head advances

	scopes   sync.Map // scopeKey -> int64, write side cache (forgotten on rollback)
	scopeIDs sync.Map // scopeKey -> int64, committed scopes, for readers
	tail     tail     // recently committed rows, for consumers

	closeOnce sync.Once
}

type scopeKey struct{ account, region string }

// Open opens (creating if needed) the store in the SQLite file at path and
// brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("open journal: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 32
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	params := fmt.Sprintf("_journal_mode=WAL&_synchronous=%s&_busy_timeout=10000&_foreign_keys=off&_cache_size=-%d",
		strings.ToUpper(opts.Synchronous), opts.CacheMiB*1024)
	wdb, err := sql.Open("sqlite3", "file:"+path+"?"+params+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The writer manages WAL checkpoints itself: SQLite's automatic
	// checkpoint would run inside a commit and stall it.
	if _, err := wdb.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := migratePackages(ctx, wdb, opts.Migrations); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite3", "file:"+path+"?"+params+"&mode=ro")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	rdb.SetMaxOpenConns(opts.Readers)
	rdb.SetMaxIdleConns(opts.Readers)
	cdb, err := sql.Open("sqlite3", "file:"+path+"?"+params)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	db := &DB{
		cdb:      cdb,
		path:     path,
		log:      opts.Logger,
		rdb:      rdb,
		wdb:      wdb,
		jobs:     make(chan *job, 4096),
		maxBatch: opts.MaxBatch,
		closed:   make(chan struct{}),
		headCh:   make(chan struct{}),
	}
	var head sql.NullInt64
	if err := rdb.QueryRowContext(ctx, "SELECT max(seq) FROM journal").Scan(&head); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	db.head.Store(head.Int64)
	db.wg.Add(2)
	go db.writer()
	go db.watch()
	return db, nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close stops the writer after the jobs already submitted and closes the
// database. Jobs submitted after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closed) })
	db.wg.Wait()
	var errs []error
	if db.wdb != nil {
		// A final checkpoint keeps the WAL file from growing across restarts.
		if _, err := db.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, db.wdb.Close())
	}
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.cdb != nil {
		errs = append(errs, db.cdb.Close())
	}
	return errors.Join(errs...)
}

// ErrClosed is returned for work submitted to a closed DB.
var ErrClosed = errors.New("journal: closed")

// Head returns the highest journal sequence number known to be committed.
func (db *DB) Head() int64 { return db.head.Load() }

// WaitHead blocks until the journal head is beyond after, ctx ends, or the
// DB closes. It returns the head it saw.
func (db *DB) WaitHead(ctx context.Context, after int64) (int64, error) {
	for {
		db.mu.Lock()
		ch := db.headCh
		db.mu.Unlock()
		if h := db.head.Load(); h > after {
			return h, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return db.head.Load(), ctx.Err()
		case <-db.closed:
			return db.head.Load(), ErrClosed
		}
	}
}

func (db *DB) advanceHead(seq int64) {
	for {
		cur := db.head.Load()
		if seq <= cur {
			return
		}
		if db.head.CompareAndSwap(cur, seq) {
			break
		}
	}
	db.mu.Lock()
	close(db.headCh)
	db.headCh = make(chan struct{})
	db.mu.Unlock()
}

// watch notices journal rows committed by other processes (for example
// `opentrail ingest` on the same data directory) and checkpoints the WAL.
func (db *DB) watch() {
	defer db.wg.Done()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	ckpt := time.NewTicker(2 * time.Second)
	defer ckpt.Stop()
	for {
		select {
		case <-db.closed:
			return
		case <-poll.C:
			var head sql.NullInt64
			if err := db.rdb.QueryRow("SELECT max(seq) FROM journal").Scan(&head); err == nil {
				db.advanceHead(head.Int64)
			}
		case <-ckpt.C:
			// PASSIVE never blocks writers or readers; it copies what it can.
			if _, err := db.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil && !isBusy(err) {
				db.log.Warn("wal checkpoint", slog.String("err", err.Error()))
			}
		}
	}
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// Reader returns the read-only connection pool, for packages that run their
// own queries over the state tables.
func (db *DB) Reader() *sql.DB { return db.rdb }
