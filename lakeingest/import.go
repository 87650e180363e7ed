package lakeingest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opentrail/opentrail/journal"
)

// Imports copy trail log files from a bucket into an event data store
// (StartImport). An import's state, its statistics and the files it has
// dealt with are rows of the journal database; Importer (import_run.go)
// does the copying.

// Import statuses, as CloudTrail names them.
const (
	ImportInitializing = "INITIALIZING"
	ImportInProgress   = "IN_PROGRESS"
	ImportFailed       = "FAILED"
	ImportStopped      = "STOPPED"
	ImportCompleted    = "COMPLETED"
)

// Import is a copy of trail log files into an event data store.
type Import struct {
	ID      string
	Account string
	Region  string
	Store   string // ID of the destination store
	// Destination is the store's ARN as the import reports it.
	Destination string
	// SourceURI is the S3LocationUri as given; Bucket and Prefix are what
	// it names (Prefix empty or ending in "/").
	SourceURI    string
	Bucket       string
	Prefix       string
	BucketRegion string
	// RoleARN is kept and reported; opentrail reads the bucket with its
	// own access and assumes no role.
	RoleARN string
	// Start and End bound the events copied (zero: unbounded).
	Start, End       time.Time `json:",omitzero"`
	Status           string
	Created, Updated time.Time
	Stats            ImportStats
	// Run counts the retries (StartImport with an ImportId): a runner
	// left over from an earlier run does not touch a later one.
	Run int `json:",omitzero"`
}

// Active reports whether the import is still to run or running.
func (im *Import) Active() bool {
	return im.Status == ImportInitializing || im.Status == ImportInProgress
}

// ImportStats are an import's statistics, as GetImport reports them.
type ImportStats struct {
	PrefixesFound     int64
	PrefixesCompleted int64
	FilesCompleted    int64
	EventsCompleted   int64
	FailedEntries     int64
}

// ImportFailure is a file an import could not copy.
type ImportFailure struct {
	Location     string // s3://bucket/key
	Status       string // FAILED, RETRY (a retry will read it again) or SUCCEEDED (a retry copied it)
	ErrorType    string
	ErrorMessage string
	Updated      time.Time
}

// States of a file in lake_import_files.
const (
	fileImporting = "IMPORTING" // handed to the lake; done or not, a retry is harmless
	fileCompleted = "COMPLETED"
	fileFailed    = "FAILED"
	fileRetry     = "RETRY" // failed, and the import was retried: to be read again
)

// A file keeps the error of its last failure (error_type, error_message)
// when a retry reads it again: ImportFailures lists every file that
// failed, as FAILED, RETRY (waiting or being copied again) or SUCCEEDED
// (copied by a retry), as AWS's ListImportFailures does.

func init() {
	Migrations = append(Migrations, journal.Migration{Name: "lake/imports/1", SQL: `
CREATE TABLE lake_imports (
	id      TEXT PRIMARY KEY,    -- ImportId
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	store   TEXT NOT NULL,       -- destination store ID
	status  TEXT NOT NULL,
	created INTEGER NOT NULL,    -- unix milliseconds
	config  TEXT NOT NULL        -- JSON of lakeingest.Import
);
CREATE INDEX lake_imports_scope ON lake_imports (account, region, created);
-- The files an import dealt with: COMPLETED (with the events it copied),
-- FAILED (with why), or IMPORTING: handed to the lake, whose per-file
-- idempotency makes handing it again harmless after a crash.
CREATE TABLE lake_import_files (
	import   TEXT NOT NULL,
	location TEXT NOT NULL,      -- s3://bucket/key
	status   TEXT NOT NULL,
	events   INTEGER NOT NULL DEFAULT 0,
	error_type    TEXT NOT NULL DEFAULT '',
	error_message TEXT NOT NULL DEFAULT '',
	updated  INTEGER NOT NULL,   -- unix milliseconds
	PRIMARY KEY (import, location)
);
`})
}

func decodeImport(config string) (*Import, error) {
	var im *Import
	if err := json.Unmarshal([]byte(config), &im); err != nil {
		return nil, fmt.Errorf("decode import: %w", err)
	}
	return im, nil
}

// PutImport creates or replaces an import.
func PutImport(tx *journal.Tx, im *Import) error {
	config, err := json.Marshal(im)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO lake_imports (id, account, region, store, status, created, config) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, config = excluded.config`,
		im.ID, im.Account, im.Region, im.Store, im.Status, im.Created.UnixMilli(), string(config))
	if err != nil {
		return fmt.Errorf("store import: %w", err)
	}
	return nil
}

// TxImport reads an import in the transaction; nil when there is none.
func TxImport(tx *journal.Tx, id string) (*Import, error) {
	return scanConfig(tx.QueryRow(`SELECT config FROM lake_imports WHERE id = ?`, id), "import", decodeImport)
}

// GetImport reads a committed import; nil when there is none.
func GetImport(ctx context.Context, db *journal.DB, id string) (*Import, error) {
	return scanConfig(db.Reader().QueryRowContext(ctx, `SELECT config FROM lake_imports WHERE id = ?`, id), "import", decodeImport)
}

// Imports lists an account's imports in a region, newest first.
func Imports(ctx context.Context, db *journal.DB, account, region string) ([]*Import, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT config FROM lake_imports WHERE account = ? AND region = ? ORDER BY created DESC, id`, account, region)
	return scanConfigs(rows, err, "imports", decodeImport)
}

// OngoingImport returns an account's import that is initializing or in
// progress (in any region), or nil: an account runs one import at a time.
func OngoingImport(tx *journal.Tx, account string) (*Import, error) {
	return ongoing(tx, `account = ?`, account)
}

// StoreImport returns the import initializing or in progress into store
// id, or nil.
func StoreImport(tx *journal.Tx, id string) (*Import, error) {
	return ongoing(tx, `store = ?`, id)
}

func ongoing(tx *journal.Tx, where string, arg string) (*Import, error) {
	return scanConfig(tx.QueryRow(`SELECT config FROM lake_imports WHERE `+where+` AND status IN ('INITIALIZING', 'IN_PROGRESS') LIMIT 1`, arg), "imports", decodeImport)
}

// activeImports lists the IDs of the imports initializing or in progress.
func activeImports(ctx context.Context, db *journal.DB) ([]string, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT id FROM lake_imports WHERE status IN ('INITIALIZING', 'IN_PROGRESS') ORDER BY created`)
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
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

// ImportFailures lists the files an import could not copy, by location.
func ImportFailures(ctx context.Context, db *journal.DB, id string) ([]ImportFailure, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT location, CASE status WHEN 'FAILED' THEN 'FAILED' WHEN 'COMPLETED' THEN 'SUCCEEDED' ELSE 'RETRY' END,
		error_type, error_message, updated FROM lake_import_files WHERE import = ? AND error_type <> '' ORDER BY location`, id)
	if err != nil {
		return nil, fmt.Errorf("list import failures: %w", err)
	}
	defer rows.Close()
	var out []ImportFailure
	for rows.Next() {
		var f ImportFailure
		var updated int64
		if err := rows.Scan(&f.Location, &f.Status, &f.ErrorType, &f.ErrorMessage, &updated); err != nil {
			return nil, err
		}
		f.Updated = time.UnixMilli(updated).UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// RetryImport sets a failed or stopped import to run again: the files it
// could not copy are marked RETRY (the run tries them again) and their
// count forgotten; the files it copied stay copied.
func RetryImport(tx *journal.Tx, im *Import, now time.Time) error {
	if _, err := tx.Exec(`UPDATE lake_import_files SET status = 'RETRY', updated = ? WHERE import = ? AND status = 'FAILED'`, now.UnixMilli(), im.ID); err != nil {
		return fmt.Errorf("retry import: %w", err)
	}
	im.Status = ImportInitializing
	im.Run++
	im.Stats.FailedEntries = 0
	im.Updated = now
	return PutImport(tx, im)
}

// importFile is a row of lake_import_files.
type importFile struct {
	status string
	events int64
}

// importFiles reads the files an import has dealt with, by location.
func importFiles(ctx context.Context, db *journal.DB, id string) (map[string]importFile, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT location, status, events FROM lake_import_files WHERE import = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("read import files: %w", err)
	}
	defer rows.Close()
	out := map[string]importFile{}
	for rows.Next() {
		var loc string
		var f importFile
		if err := rows.Scan(&loc, &f.status, &f.events); err != nil {
			return nil, err
		}
		out[loc] = f
	}
	return out, rows.Err()
}

func putImportFile(tx *journal.Tx, id, location, status string, events int64, errType, errMsg string, now time.Time) error {
	_, err := tx.Exec(`INSERT INTO lake_import_files (import, location, status, events, error_type, error_message, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (import, location) DO UPDATE SET status = excluded.status,
		events = excluded.events, updated = excluded.updated,
		error_type = CASE excluded.error_type WHEN '' THEN error_type ELSE excluded.error_type END,
		error_message = CASE excluded.error_type WHEN '' THEN error_message ELSE excluded.error_message END`,
		id, location, status, events, errType, errMsg, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store import file: %w", err)
	}
	return nil
}
