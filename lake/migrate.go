package lake

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// upgrade brings every store to the current layout: a store still kept as
// one wide table (layout 1, named like today's view) is converted into a
// data table and a view, in one transaction per store, from its eventjson
// column: each row is what appending its record today would give. Views
// are re-created in every case so that their definition follows the code.
func (e *Engine) upgrade() error {
	ctx := context.Background()
	ids, err := e.Stores(ctx)
	if err != nil {
		return fmt.Errorf("set up lake: %w", err)
	}
	for _, id := range ids {
		var tables int
		if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?`, "eds_"+id).Scan(&tables); err != nil {
			return fmt.Errorf("set up lake: %w", err)
		}
		if tables > 0 {
			if err := e.migrateWide(ctx, id); err != nil {
				return fmt.Errorf("set up lake: migrate store %s: %w", id, err)
			}
			continue
		}
		// Layout 3 added the UUID columns (uuidTwin).
		for _, c := range physicalColumns[eventJSONColumn+1:] {
			if _, err := e.db.ExecContext(ctx, `ALTER TABLE `+dataTable(id)+` ADD COLUMN IF NOT EXISTS `+c.name+` `+c.typ); err != nil {
				return fmt.Errorf("set up lake: columns of store %s: %w", id, err)
			}
		}
		if _, err := e.db.ExecContext(ctx, createView(id)); err != nil {
			return fmt.Errorf("set up lake: view of store %s: %w", id, err)
		}
		if _, err := e.db.ExecContext(ctx, createFlatView(id)); err != nil {
			return fmt.Errorf("set up lake: view of store %s: %w", id, err)
		}
	}
	return nil
}

// migrateWide converts the layout 1 table of store id.
func (e *Engine) migrateWide(ctx context.Context, id string) error {
	start := time.Now()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`CREATE TABLE ` + dataTable(id) + ` (` + physicalDDL(e.zstd) + `)`,
		insertPhysical(id, `(SELECT eventjson AS raw FROM `+storeTable(id)+`)`),
		`DROP TABLE ` + storeTable(id),
		createView(id),
		createFlatView(id),
	}
	var rows int64
	for i, q := range stmts {
		res, err := tx.ExecContext(ctx, q)
		if err != nil {
			return err
		}
		if i == 1 {
			rows, _ = res.RowsAffected()
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	slog.Info("lake: store migrated to the narrow layout", "store", id, "events", rows, "took", time.Since(start))
	return nil
}
