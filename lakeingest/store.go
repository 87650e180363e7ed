// Package lakeingest holds CloudTrail Lake's control-plane state in the
// journal database (event data stores, their configuration history and the
// queries run on them) and the journal consumers that feed each event data
// store's DuckDB table (package lake), expire its events past retention and
// purge stores deleted more than seven days ago.
//
// Every change to a store's configuration is recorded as a version from the
// journal sequence number of the call that made it, as trails' are: a
// consumer judges each event by the configuration in force when it was
// recorded, so that events recorded after StopEventDataStoreIngestion (or
// after a selector change) are treated as the change says even if the
// consumer reads them late.
package lakeingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/journal"
)

// Event data store statuses, as CloudTrail names them.
const (
	StatusCreated         = "CREATED"
	StatusEnabled         = "ENABLED"
	StatusStopped         = "STOPPED_INGESTION"
	StatusPendingDeletion = "PENDING_DELETION"
)

// Billing modes.
const (
	BillingExtendable = "EXTENDABLE_RETENTION_PRICING"
	BillingFixed      = "FIXED_RETENTION_PRICING"
)

// PendingDeletion is how long a deleted store can be restored before it is
// purged (AWS: 7 days).
const PendingDeletion = 7 * 24 * time.Hour

// MaxStores is the number of event data stores an account may have in a
// region, in any state.
const MaxStores = 10

// Store is an event data store's configuration.
type Store struct {
	ID                    string // the UUID ending the ARN; also the SQL table name
	Account               string
	Region                string
	Name                  string
	Status                string
	Selectors             []opentrail.AdvancedEventSelector `json:",omitempty"`
	MultiRegion           bool
	Organization          bool
	Retention             int // days
	TerminationProtection bool
	BillingMode           string
	Created, Updated      time.Time
	// Deleted is when the store entered PENDING_DELETION.
	Deleted time.Time `json:",omitzero"`
}

// ARN is the store's ARN.
func (s *Store) ARN() string { return StoreARN(s.Region, s.Account, s.ID) }

// Ingesting reports whether the store takes new events.
func (s *Store) Ingesting() bool { return s.Status == StatusEnabled || s.Status == StatusCreated }

// TakesActivity reports whether the store's selectors take channel events
// (eventCategory ActivityAuditLog).
func (s *Store) TakesActivity() bool {
	for _, sel := range s.Selectors {
		for _, f := range sel.FieldSelectors {
			if f.Field == "eventCategory" {
				for _, v := range f.Equals {
					if v == opentrail.CategoryActivityAuditLog {
						return true
					}
				}
			}
		}
	}
	return false
}

// StoreARN builds an event data store ARN.
func StoreARN(region, account, id string) string {
	return "arn:" + opentrail.Partition + ":cloudtrail:" + region + ":" + account + ":eventdatastore/" + id
}

var storeID = regexp.MustCompile(`^[A-Za-z0-9]{8}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{12}$`)

// ParseStoreRef accepts an event data store ARN or its ID and returns the
// ID (lower case) and the region and account the ARN names (empty for a
// bare ID). It reports false when ref is neither.
func ParseStoreRef(ref string) (id, region, account string, ok bool) {
	if storeID.MatchString(ref) {
		return strings.ToLower(ref), "", "", true
	}
	a, ok := opentrail.ParseARN(ref)
	if !ok || a.Service != "cloudtrail" || !strings.HasPrefix(a.Resource, "eventdatastore/") {
		return "", "", "", false
	}
	id = strings.TrimPrefix(a.Resource, "eventdatastore/")
	if !storeID.MatchString(id) {
		return "", "", "", false
	}
	return strings.ToLower(id), a.Region, a.AccountID, true
}

// Migrations are the tables of package lakeingest.
var Migrations = []journal.Migration{{Name: "lake/1", SQL: `
CREATE TABLE lake_eds (
	id      TEXT PRIMARY KEY,  -- the store's UUID
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	config  TEXT NOT NULL      -- JSON of lakeingest.Store
);
CREATE INDEX lake_eds_scope ON lake_eds (account, region);
-- Every configuration a store had, from the journal sequence number of the
-- call that set it; 'null' once the store is purged.
CREATE TABLE lake_eds_versions (
	id     TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	config TEXT NOT NULL,
	PRIMARY KEY (id, seq)
);
CREATE TABLE lake_queries (
	id        TEXT PRIMARY KEY,   -- QueryId
	account   TEXT NOT NULL,
	region    TEXT NOT NULL,
	stores    TEXT NOT NULL,      -- JSON list of the store IDs the statement reads
	statement TEXT NOT NULL,
	status    TEXT NOT NULL,
	created   INTEGER NOT NULL,   -- unix milliseconds
	finished  INTEGER NOT NULL DEFAULT 0,
	error     TEXT NOT NULL DEFAULT '',
	delivery_uri    TEXT NOT NULL DEFAULT '',
	delivery_status TEXT NOT NULL DEFAULT '',
	events_matched  INTEGER NOT NULL DEFAULT 0,
	events_scanned  INTEGER NOT NULL DEFAULT 0,
	bytes_scanned   INTEGER NOT NULL DEFAULT 0,
	exec_ms         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX lake_queries_scope ON lake_queries (account, region, created);
`}}

// ConsumerName is the journal checkpoint of a store's consumer: it keeps
// the journal from deleting events the store has not taken yet.
func ConsumerName(id string) string { return "lake:" + id }

func decodeStore(config string) (*Store, error) {
	var s *Store
	if err := json.Unmarshal([]byte(config), &s); err != nil {
		return nil, fmt.Errorf("decode event data store: %w", err)
	}
	return s, nil
}

func scanStores(rows *sql.Rows, err error) ([]*Store, error) {
	return scanConfigs(rows, err, "event data stores", decodeStore)
}

// scanConfigs decodes the config column of each row of a query's result.
func scanConfigs[T any](rows *sql.Rows, err error, what string, decode func(string) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		var config string
		if err := rows.Scan(&config); err != nil {
			return nil, err
		}
		v, err := decode(config)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// PutStore creates or updates a store and records the configuration as the
// version in force from the next journal event on (the call's own record).
// A new store's consumer checkpoint is set just before that event, so the
// journal keeps everything the store will take.
func PutStore(tx *journal.Tx, s *Store, created bool) error {
	config, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO lake_eds (id, account, region, config) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET config = excluded.config`, s.ID, s.Account, s.Region, string(config)); err != nil {
		return fmt.Errorf("store event data store: %w", err)
	}
	seq, err := tx.NextSeq()
	if err != nil {
		return err
	}
	if created {
		if err := tx.SetCheckpoint(ConsumerName(s.ID), seq-1); err != nil {
			return err
		}
	}
	return addVersion(tx, s.ID, seq, string(config))
}

func addVersion(tx *journal.Tx, id string, seq int64, config string) error {
	_, err := tx.Exec(`INSERT INTO lake_eds_versions (id, seq, config) VALUES (?, ?, ?)
		ON CONFLICT (id, seq) DO UPDATE SET config = excluded.config`, id, seq, config)
	if err != nil {
		return fmt.Errorf("store event data store version: %w", err)
	}
	return nil
}

// TxStore reads a store in the transaction; nil when there is none.
func TxStore(tx *journal.Tx, id string) (*Store, error) {
	return scanConfig(tx.QueryRow(`SELECT config FROM lake_eds WHERE id = ?`, id), "event data store", decodeStore)
}

// GetStore reads a committed store; nil when there is none.
func GetStore(ctx context.Context, db *journal.DB, id string) (*Store, error) {
	return scanConfig(db.Reader().QueryRowContext(ctx, `SELECT config FROM lake_eds WHERE id = ?`, id), "event data store", decodeStore)
}

// scanConfig decodes the config column of a one-row result; nil when there
// is no row.
func scanConfig[T any](row *sql.Row, what string, decode func(string) (*T, error)) (*T, error) {
	var config string
	err := row.Scan(&config)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return decode(config)
}

// TxStores lists an account's stores in a region, oldest first.
func TxStores(tx *journal.Tx, account, region string) ([]*Store, error) {
	out, err := scanStores(tx.Query(`SELECT config FROM lake_eds WHERE account = ? AND region = ? ORDER BY rowid`, account, region))
	return out, err
}

// Stores lists an account's committed stores in a region, oldest first.
func Stores(ctx context.Context, db *journal.DB, account, region string) ([]*Store, error) {
	return scanStores(db.Reader().QueryContext(ctx, `SELECT config FROM lake_eds WHERE account = ? AND region = ? ORDER BY rowid`, account, region))
}

// AllStores lists every store.
func AllStores(ctx context.Context, db *journal.DB) ([]*Store, error) {
	return scanStores(db.Reader().QueryContext(ctx, `SELECT config FROM lake_eds ORDER BY rowid`))
}

// purge removes a store whose pending deletion ended: its row and tags go
// now, and a null version tells its consumer to drop its events.
func purge(tx *journal.Tx, s *Store) error {
	if _, err := tx.Exec(`DELETE FROM lake_eds WHERE id = ?`, s.ID); err != nil {
		return err
	}
	if err := tx.DeleteTags(s.ARN()); err != nil {
		return err
	}
	seq, err := tx.NextSeq()
	if err != nil {
		return err
	}
	return addVersion(tx, s.ID, seq, "null")
}

// version is a store's configuration from a journal sequence number on;
// Store is nil from the store's purge on.
type version struct {
	Seq   int64
	Store *Store
}

func versions(ctx context.Context, db *journal.DB, id string) ([]version, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT seq, config FROM lake_eds_versions WHERE id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("read event data store versions: %w", err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		var v version
		var config string
		if err := rows.Scan(&v.Seq, &config); err != nil {
			return nil, err
		}
		if v.Store, err = decodeStore(config); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func versionedIDs(ctx context.Context, db *journal.DB) ([]string, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT DISTINCT id FROM lake_eds_versions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list event data stores: %w", err)
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
