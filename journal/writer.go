package journal

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// A job is one unit of work for the writer: its function runs inside a
// savepoint of the batch transaction, so its failure undoes only its own
// writes, and its caller learns the outcome only after the commit.
type job struct {
	fn   func(*Tx) error
	done chan error
}

// Tx is a write transaction handed to an Update function. It is valid only
// during that call.
type Tx struct {
	db  *DB
	tx  *sql.Tx
	ctx context.Context

	ins      *multiInsert // journal inserts, prepared once per transaction
	lastSeq  int64
	appended []tailItem // rows appended by the jobs that succeeded so far
}

// Update runs fn in a write transaction and returns after the transaction is
// durable (or failed). If fn returns an error, its writes are undone and
// Update returns that error; other jobs grouped into the same commit are not
// affected. fn must not retain tx and must not block on other Update calls.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	j := &job{fn: fn, done: make(chan error, 1)}
	select {
	case <-db.closed:
		return ErrClosed
	default:
	}
	select {
	case db.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closed:
		return ErrClosed
	}
	// Once submitted, the job's outcome is waited for even if ctx ends: the
	// caller must not report failure for a write that may yet commit.
	return <-j.done
}

// Exec runs a statement in the transaction.
func (tx *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(tx.ctx, query, args...)
}

// QueryRow runs a query in the transaction (seeing its own writes).
func (tx *Tx) QueryRow(query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.ctx, query, args...)
}

// Query runs a query in the transaction (seeing its own writes).
func (tx *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(tx.ctx, query, args...)
}

func (db *DB) writer() {
	defer db.wg.Done()
	ctx := context.Background()
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		db.failAll(fmt.Errorf("journal writer: %w", err))
		return
	}
	defer conn.Close()

	batch := make([]*job, 0, db.maxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-db.jobs:
			batch = append(batch, j)
		case <-db.closed:
			// Drain what was submitted before Close.
			for {
				select {
				case j := <-db.jobs:
					batch = append(batch, j)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				db.commit(ctx, conn, batch)
			}
			return
		}
	gather:
		for len(batch) < db.maxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		db.commit(ctx, conn, batch)
	}
}

func (db *DB) failAll(err error) {
	for {
		select {
		case j := <-db.jobs:
			j.done <- err
		case <-db.closed:
			return
		}
	}
}

// commit runs a batch of jobs in one transaction.
func (db *DB) commit(ctx context.Context, conn *sql.Conn, batch []*job) {
	start := time.Now()
	results := make([]error, len(batch))
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		db.finish(batch, results, fmt.Errorf("begin: %w", err))
		return
	}
	tx := &Tx{db: db, tx: sqlTx, ctx: ctx}
	defer func() {
		if tx.ins != nil {
			tx.ins.close()
		}
	}()
	single := len(batch) == 1
	for i, j := range batch {
		if single {
			// One job alone needs no savepoint: its failure rolls back the
			// whole transaction.
			results[i] = runJob(j, tx)
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			results[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		mark := len(tx.appended)
		results[i] = runJob(j, tx)
		if results[i] != nil {
			tx.appended = tx.appended[:mark]
			db.forgetScopes()
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				sqlTx.Rollback()
				db.finish(batch, results, fmt.Errorf("rollback to savepoint: %w", err))
				db.forgetScopes()
				return
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE job"); err != nil {
			sqlTx.Rollback()
			db.finish(batch, results, fmt.Errorf("release savepoint: %w", err))
			db.forgetScopes()
			return
		}
	}
	if single && results[0] != nil {
		sqlTx.Rollback()
		db.forgetScopes()
		db.finish(batch, results, nil)
		return
	}
	// Read the head inside the transaction: rows appended by a failed job
	// were rolled back, so max(seq) is exactly what this commit makes visible.
	var head sql.NullInt64
	if err := sqlTx.QueryRowContext(ctx, "SELECT max(seq) FROM journal").Scan(&head); err != nil {
		sqlTx.Rollback()
		db.forgetScopes()
		db.finish(batch, results, fmt.Errorf("read head: %w", err))
		return
	}
	if err := sqlTx.Commit(); err != nil {
		db.forgetScopes()
		db.finish(batch, results, fmt.Errorf("commit: %w", err))
		return
	}
	db.tail.push(tx.appended)
	db.advanceHead(head.Int64)
	db.finish(batch, results, nil)
	if d := time.Since(start); d > time.Second {
		db.log.Warn("slow journal commit", slog.Int("jobs", len(batch)), slog.Duration("took", d))
	}
}

func runJob(j *job, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("journal job panicked: %v", r)
		}
	}()
	return j.fn(tx)
}

// finish reports each job's outcome; a batch-level error overrides success.
func (db *DB) finish(batch []*job, results []error, batchErr error) {
	if batchErr != nil {
		db.log.Error("journal commit failed", slog.Int("jobs", len(batch)), slog.String("err", batchErr.Error()))
	}
	for i, j := range batch {
		err := results[i]
		if batchErr != nil && err == nil {
			err = fmt.Errorf("journal: %w", batchErr)
		}
		j.done <- err
	}
}

// forgetScopes drops the scope cache after a rollback, since scope rows
// inserted by the rolled-back transaction no longer exist.
func (db *DB) forgetScopes() {
	db.scopes.Range(func(k, _ any) bool {
		db.scopes.Delete(k)
		return true
	})
}
