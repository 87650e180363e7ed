package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	res, err := e.ImportBatch(ctx, id, []ImportSource{{Source: source, Events: events}})
	if err != nil {
		return 0, err
	}
	return res[0].Added, res[0].Err
}

// ImportSource is one source of events for ImportBatch.
type ImportSource struct {
	Source string
	Events [][]byte
}

// ImportResult is what ImportBatch did with one source: the events it
// added, or ErrAlreadyImported.
type ImportResult struct {
	Added int64
	Err   error
}

// ImportBatch is Import for several sources in one transaction, which
// costs far less than one transaction each. It returns one result per
// source, in order; a source given twice is imported once. Its error is
// for the whole batch, which then added nothing.
func (e *Engine) ImportBatch(ctx context.Context, id string, sources []ImportSource) ([]ImportResult, error) {
	if !validStoreID(id) {
		return nil, ErrStoreNotFound
	}
	for _, s := range sources {
		if s.Source == "" {
			return nil, errors.New("lake: import source is empty")
		}
	}
	l := e.lock(id)
	l.Lock()
	defer l.Unlock()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", id, err)
	}
	defer conn.Close()
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM lake_stores WHERE id = ?)`, id).Scan(&exists); err != nil {
		return nil, fmt.Errorf("import into %s: %w", id, err)
	}
	if !exists {
		return nil, ErrStoreNotFound
	}
	if len(sources) == 0 {
		return []ImportResult{}, nil
	}
	// The sources imported before, in one query.
	seen := map[string]bool{}
	args := []any{id}
	for _, s := range sources {
		args = append(args, s.Source)
	}
	rows, err := conn.QueryContext(ctx, `SELECT source FROM lake_imports WHERE store = ? AND source IN (?`+strings.Repeat(", ?", len(sources)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", id, err)
	}
	for rows.Next() {
		var source string
		if err := rows.Scan(&source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("import into %s: %w", id, err)
		}
		seen[source] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("import into %s: %w", id, err)
	}
	results := make([]ImportResult, len(sources))
	var events [][]byte
	var todo []int // indexes of the sources to import
	var ends []int // per source in todo: the end of its events in events
	for i, s := range sources {
		if seen[s.Source] {
			results[i].Err = ErrAlreadyImported
			continue
		}
		seen[s.Source] = true
		todo = append(todo, i)
		events = append(events, s.Events...)
		ends = append(ends, len(events))
	}
	if len(todo) == 0 {
		return results, nil
	}
	_, err = e.insert(ctx, conn, id, events, func(tx *sql.Conn, b batch) error {
		// Each source row commits with the events: after a crash either
		// all are there or none is, and the importer retries the
		// sources. The primary key refuses a second row for a source.
		start, skipped := 0, b.skipped
		for k, i := range todo {
			n := int64(ends[k] - start)
			for len(skipped) > 0 && skipped[0] < ends[k] {
				n--
				skipped = skipped[1:]
			}
			start = ends[k]
			results[i].Added = n
			if _, err := tx.ExecContext(ctx, `INSERT INTO lake_imports VALUES (?, ?, ?)`, id, sources[i].Source, n); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE lake_stores SET events = events + ?, bytes = bytes + ? WHERE id = ?`, b.added, b.size, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", id, err)
	}
	return results, nil
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
