package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrAlreadyImported is returned by Import for a source already imported
// into the store.
var ErrAlreadyImported = errors.New("lake: source already imported")

// Import adds events (CloudTrail record JSON bodies) read from one source
// (for example one log file, "s3://bucket/key" plus its ETag) to store id,
// and records the source in the same transaction, so importing the same
// source again adds nothing and returns ErrAlreadyImported. It does not move
// the journal checkpoint. It returns the number of events added. Elements
// that are not JSON objects are skipped, as Append skips them.
func (e *Engine) Import(ctx context.Context, id, source string, events [][]byte) (int64, error) {
	if !validStoreID(id) {
		return 0, ErrStoreNotFound
	}
	if source == "" {
		return 0, errors.New("lake: import source is empty")
	}
	l := e.lock(id)
	l.Lock()
	defer l.Unlock()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("import into %s: %w", id, err)
	}
	defer conn.Close()
	var exists, done bool
	err = conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM lake_stores WHERE id = ?), EXISTS (SELECT 1 FROM lake_imports WHERE store = ? AND source = ?)`, id, id, source).Scan(&exists, &done)
	if err != nil {
		return 0, fmt.Errorf("import into %s: %w", id, err)
	}
	if !exists {
		return 0, ErrStoreNotFound
	}
	if done {
		return 0, ErrAlreadyImported
	}
	added, err := e.insert(ctx, conn, id, events, func(tx *sql.Tx, added, size int64) error {
		// The source row commits with the events: after a crash either
		// both are there or neither is, and the importer retries the
		// source. The primary key refuses a second row for it.
		if _, err := tx.ExecContext(ctx, `INSERT INTO lake_imports VALUES (?, ?, ?)`, id, source, added); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE lake_stores SET events = events + ?, bytes = bytes + ? WHERE id = ?`, added, size, id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("import into %s: %w", id, err)
	}
	return added, nil
}

// Imported reports whether source was already imported into store id.
func (e *Engine) Imported(ctx context.Context, id, source string) (bool, error) {
	var exists, done bool
	err := e.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM lake_stores WHERE id = ?), EXISTS (SELECT 1 FROM lake_imports WHERE store = ? AND source = ?)`, id, id, source).Scan(&exists, &done)
	if err != nil {
		return false, fmt.Errorf("imported into %s: %w", id, err)
	}
	if !exists {
		return false, ErrStoreNotFound
	}
	return done, nil
}
