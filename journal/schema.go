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
