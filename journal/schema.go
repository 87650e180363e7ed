package journal

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations bring a database from user_version i to i+1. Never edit one
// that has shipped; append a new one.
var migrations = []string{
	// 1: the journal, scopes, checkpoints, identity, channels.
	`
CREATE TABLE journal (
	seq   INTEGER PRIMARY KEY AUTOINCREMENT,
	time  INTEGER NOT NULL,  -- eventTime, unix seconds
	scope INTEGER NOT NULL,  -- scopes.id: the account and region the event belongs to
	flags INTEGER NOT NULL,  -- category, origin, destinations (see Entry)
	body  BLOB NOT NULL      -- the record JSON, possibly compressed (see codec.go)
);
CREATE TABLE scopes (
	id      INTEGER PRIMARY KEY,
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	UNIQUE (account, region)
);
CREATE TABLE checkpoints (
	consumer TEXT PRIMARY KEY,
	seq      INTEGER NOT NULL
);
CREATE TABLE accounts (
	id      TEXT PRIMARY KEY,
	created INTEGER NOT NULL,
	alias   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE access_keys (
	id             TEXT PRIMARY KEY,
	secret         TEXT NOT NULL,
	account        TEXT NOT NULL,
	principal_type TEXT NOT NULL,
	principal_name TEXT NOT NULL,
	principal_id   TEXT NOT NULL,
	status         TEXT NOT NULL,
	created        INTEGER NOT NULL
);
CREATE INDEX access_keys_account ON access_keys (account);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE channels (
	id           TEXT PRIMARY KEY,  -- the UUID suffix of the ARN
	account      TEXT NOT NULL,
	region       TEXT NOT NULL,
	name         TEXT NOT NULL,
	source       TEXT NOT NULL,
	destinations TEXT NOT NULL,     -- JSON list of {Type, Location}
	created      INTEGER NOT NULL,
	last_success_time  INTEGER NOT NULL DEFAULT 0,
	last_success_event TEXT NOT NULL DEFAULT '',
	last_attempt_time  INTEGER NOT NULL DEFAULT 0,
	last_attempt_event TEXT NOT NULL DEFAULT '',
	last_error_code    TEXT NOT NULL DEFAULT '',
	UNIQUE (account, region, name)
);
CREATE TABLE tags (
	arn   TEXT NOT NULL,  -- the tagged resource
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (arn, key)
);
`,
}

// Migration is a schema change a package contributes (its own tables),
// applied once, in order, after opentrail's core migrations. Name it
// "<package>/<n>" and never edit one that has shipped.
type Migration struct {
	Name string
	SQL  string
}

func init() {
	migrations = append(migrations,
		// 2: the record of applied package migrations.
		`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied INTEGER NOT NULL);`,
		// 3: trails and their delivery status.
		`
CREATE TABLE trails (
	arn         TEXT PRIMARY KEY,
	account     TEXT NOT NULL,
	home_region TEXT NOT NULL,
	name        TEXT NOT NULL,
	config      TEXT NOT NULL,   -- JSON of opentrail.Trail
	UNIQUE (account, home_region, name)
);
CREATE TABLE trail_status (
	arn   TEXT PRIMARY KEY,
	status TEXT NOT NULL        -- JSON of opentrail.TrailStatus
);
-- Every configuration a trail had, from the journal sequence number of the
-- call that set it: delivery applies to each event the configuration in
-- force when it was recorded. A deleted trail's last version is 'null'.
CREATE TABLE trail_versions (
	arn    TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	config TEXT NOT NULL,
	PRIMARY KEY (arn, seq)
);
`,
	)
}

// migratePackages applies the package migrations not applied yet.
func migratePackages(ctx context.Context, db *sql.DB, ms []Migration) error {
	for _, m := range ms {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", m.Name).Scan(&n); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (name, applied) VALUES (?, strftime('%s', 'now'))", m.Name); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this opentrail understands (%d): upgrade opentrail", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
	}
	return nil
}
