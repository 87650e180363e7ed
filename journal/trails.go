package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/opentrail/opentrail"
)

func scanTrail(row scanner) (*opentrail.Trail, error) {
	var config string
	if err := row.Scan(&config); err != nil {
		return nil, err
	}
	var t opentrail.Trail
	if err := json.Unmarshal([]byte(config), &t); err != nil {
		return nil, fmt.Errorf("decode trail: %w", err)
	}
	return &t, nil
}

// PutTrail creates or replaces a trail.
func (tx *Tx) PutTrail(t *opentrail.Trail) error {
	config, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO trails (arn, account, home_region, name, config) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (arn) DO UPDATE SET config = excluded.config`, t.ARN(), t.Account, t.HomeRegion, t.Name, string(config))
	if err != nil {
		return fmt.Errorf("store trail: %w", err)
	}
	return nil
}

// DeleteTrail removes a trail, its status and its tags.
func (tx *Tx) DeleteTrail(arn string) error {
	for _, q := range []string{"DELETE FROM trails WHERE arn = ?", "DELETE FROM trail_status WHERE arn = ?", "DELETE FROM tags WHERE arn = ?"} {
		if _, err := tx.Exec(q, arn); err != nil {
			return fmt.Errorf("delete trail: %w", err)
		}
	}
	return nil
}

// Trail returns a trail by ARN within the transaction, or nil.
func (tx *Tx) Trail(arn string) (*opentrail.Trail, error) {
	t, err := scanTrail(tx.QueryRow("SELECT config FROM trails WHERE arn = ?", arn))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return t, err
}

// Trail returns a trail by ARN, or nil.
func (db *DB) Trail(ctx context.Context, arn string) (*opentrail.Trail, error) {
	t, err := scanTrail(db.rdb.QueryRowContext(ctx, "SELECT config FROM trails WHERE arn = ?", arn))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find trail: %w", err)
	}
	return t, nil
}

func collectTrails(rows *sql.Rows, err error) ([]*opentrail.Trail, error) {
	if err != nil {
		return nil, fmt.Errorf("list trails: %w", err)
	}
	defer rows.Close()
	var out []*opentrail.Trail
	for rows.Next() {
		t, err := scanTrail(rows)
		if err != nil {
			return nil, fmt.Errorf("list trails: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Trails lists an account's trails (every home region), by home region and name.
func (db *DB) Trails(ctx context.Context, account string) ([]*opentrail.Trail, error) {
	return collectTrails(db.rdb.QueryContext(ctx, "SELECT config FROM trails WHERE account = ? ORDER BY home_region, name", account))
}

// Trails lists an account's trails within the transaction.
func (tx *Tx) Trails(account string) ([]*opentrail.Trail, error) {
	return collectTrails(tx.Query("SELECT config FROM trails WHERE account = ? ORDER BY home_region, name", account))
}

// AllTrails lists every trail of every account.
func (db *DB) AllTrails(ctx context.Context) ([]*opentrail.Trail, error) {
	return collectTrails(db.rdb.QueryContext(ctx, "SELECT config FROM trails ORDER BY account, home_region, name"))
}

// TrailStatus returns a trail's delivery status (zero when it never delivered).
func (db *DB) TrailStatus(ctx context.Context, arn string) (opentrail.TrailStatus, error) {
	var st opentrail.TrailStatus
	var raw string
	err := db.rdb.QueryRowContext(ctx, "SELECT status FROM trail_status WHERE arn = ?", arn).Scan(&raw)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read trail status: %w", err)
	}
	return st, json.Unmarshal([]byte(raw), &st)
}

// UpdateTrailStatus changes a trail's delivery status with fn, if the trail
// still exists.
func (tx *Tx) UpdateTrailStatus(arn string, fn func(*opentrail.TrailStatus)) error {
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM trails WHERE arn = ?", arn).Scan(&n); err != nil || n == 0 {
		return err
	}
	var st opentrail.TrailStatus
	var raw string
	err := tx.QueryRow("SELECT status FROM trail_status WHERE arn = ?", arn).Scan(&raw)
	if err == nil {
		err = json.Unmarshal([]byte(raw), &st)
	}
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("read trail status: %w", err)
	}
	fn(&st)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO trail_status (arn, status) VALUES (?, ?) ON CONFLICT (arn) DO UPDATE SET status = excluded.status`, arn, string(b))
	if err != nil {
		return fmt.Errorf("store trail status: %w", err)
	}
	return nil
}

// NextSeq is the sequence number the next event appended in this
// transaction will get.
func (tx *Tx) NextSeq() (int64, error) {
	var seq int64
	err := tx.QueryRow("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0)").Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read journal sequence: %w", err)
	}
	return seq + 1, nil
}

// TrailVersion is a trail's configuration from a journal sequence number
// on; Trail is nil from the trail's deletion on.
type TrailVersion struct {
	Seq   int64
	Trail *opentrail.Trail
}

// AddTrailVersion records the configuration a trail has from seq on (nil
// when it was deleted).
func (tx *Tx) AddTrailVersion(arn string, seq int64, t *opentrail.Trail) error {
	config, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO trail_versions (arn, seq, config) VALUES (?, ?, ?)
		ON CONFLICT (arn, seq) DO UPDATE SET config = excluded.config`, arn, seq, string(config))
	if err != nil {
		return fmt.Errorf("store trail version: %w", err)
	}
	return nil
}

// TrailVersions returns a trail's versions after seq, oldest first.
func (db *DB) TrailVersions(ctx context.Context, arn string, after int64) ([]TrailVersion, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT seq, config FROM trail_versions WHERE arn = ? AND seq > ? ORDER BY seq", arn, after)
	if err != nil {
		return nil, fmt.Errorf("read trail versions: %w", err)
	}
	defer rows.Close()
	var out []TrailVersion
	for rows.Next() {
		var v TrailVersion
		var config string
		if err := rows.Scan(&v.Seq, &config); err != nil {
			return nil, fmt.Errorf("read trail versions: %w", err)
		}
		if err := json.Unmarshal([]byte(config), &v.Trail); err != nil {
			return nil, fmt.Errorf("decode trail version: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// TrailARNsWithVersions lists every trail that has versions: live trails
// and deleted ones whose delivery has not finished.
func (db *DB) TrailARNsWithVersions(ctx context.Context) ([]string, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT DISTINCT arn FROM trail_versions ORDER BY arn")
	if err != nil {
		return nil, fmt.Errorf("list trails: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ForgetTrailVersions removes a deleted trail's versions once its delivery
// has finished.
func (tx *Tx) ForgetTrailVersions(arn string) error {
	_, err := tx.Exec("DELETE FROM trail_versions WHERE arn = ?", arn)
	return err
}

// DeleteCheckpoint removes a consumer's checkpoint, when the consumer is
// gone for good.
func (tx *Tx) DeleteCheckpoint(consumer string) error {
	_, err := tx.Exec("DELETE FROM checkpoints WHERE consumer = ?", consumer)
	return err
}
