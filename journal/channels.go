package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opentrail/opentrail"
)

const channelColumns = `id, account, region, name, source, destinations, created,
	last_success_time, last_success_event, last_attempt_time, last_attempt_event, last_error_code`

type scanner interface{ Scan(...any) error }

func scanChannel(row scanner) (*opentrail.Channel, error) {
	var c opentrail.Channel
	var dests string
	var created, succ, att int64
	err := row.Scan(&c.ID, &c.Account, &c.Region, &c.Name, &c.Source, &dests, &created,
		&succ, &c.Ingestion.LatestSuccessEventID, &att, &c.Ingestion.LatestAttemptEventID, &c.Ingestion.LatestErrorCode)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(dests), &c.Destinations); err != nil {
		return nil, fmt.Errorf("channel %s destinations: %w", c.ID, err)
	}
	c.Created = time.Unix(created, 0).UTC()
	if succ > 0 {
		c.Ingestion.LatestSuccessTime = time.UnixMilli(succ).UTC()
	}
	if att > 0 {
		c.Ingestion.LatestAttemptTime = time.UnixMilli(att).UTC()
	}
	return &c, nil
}

// PutChannel creates or replaces a channel.
func (tx *Tx) PutChannel(c *opentrail.Channel) error {
	dests, err := json.Marshal(c.Destinations)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO channels (id, account, region, name, source, destinations, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, destinations = excluded.destinations`,
		c.ID, c.Account, c.Region, c.Name, c.Source, string(dests), c.Created.Unix())
	if err != nil {
		return fmt.Errorf("store channel: %w", err)
	}
	return nil
}

// Channel returns a channel by ID within the transaction, or nil.
func (tx *Tx) Channel(id string) (*opentrail.Channel, error) {
	c, err := scanChannel(tx.QueryRow("SELECT "+channelColumns+" FROM channels WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return c, err
}

// Channel returns a channel by ID, or nil.
func (db *DB) Channel(ctx context.Context, id string) (*opentrail.Channel, error) {
	c, err := scanChannel(db.rdb.QueryRowContext(ctx, "SELECT "+channelColumns+" FROM channels WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find channel: %w", err)
	}
	return c, nil
}

// Channels lists an account's channels in a region, by name, within tx.
func (tx *Tx) Channels(account, region string) ([]*opentrail.Channel, error) {
	rows, err := tx.Query("SELECT "+channelColumns+" FROM channels WHERE account = ? AND region = ? ORDER BY name", account, region)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	var out []*opentrail.Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Channels lists an account's channels in a region, by name.
func (db *DB) Channels(ctx context.Context, account, region string) ([]*opentrail.Channel, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT "+channelColumns+" FROM channels WHERE account = ? AND region = ? ORDER BY name", account, region)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	var out []*opentrail.Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteChannel removes a channel and its tags.
func (tx *Tx) DeleteChannel(c *opentrail.Channel) error {
	if _, err := tx.Exec("DELETE FROM channels WHERE id = ?", c.ID); err != nil {
		return fmt.Errorf("delete channel: %w", err)
	}
	return tx.DeleteTags(c.ARN())
}

// RecordIngestion updates a channel's ingestion status after a PutAuditEvents call.
func (tx *Tx) RecordIngestion(id string, st opentrail.IngestionStatus) error {
	_, err := tx.Exec(`UPDATE channels SET last_attempt_time = ?, last_attempt_event = ?, last_error_code = ?,
		last_success_time = CASE WHEN ? > 0 THEN ? ELSE last_success_time END,
		last_success_event = CASE WHEN ? != '' THEN ? ELSE last_success_event END
		WHERE id = ?`,
		st.LatestAttemptTime.UnixMilli(), st.LatestAttemptEventID, st.LatestErrorCode,
		unixMilli(st.LatestSuccessTime), unixMilli(st.LatestSuccessTime),
		st.LatestSuccessEventID, st.LatestSuccessEventID, id)
	if err != nil {
		return fmt.Errorf("record channel ingestion: %w", err)
	}
	return nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Tags returns a resource's tags ordered by key.
func (db *DB) Tags(ctx context.Context, arn string) ([]opentrail.Tag, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", arn)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	var out []opentrail.Tag
	for rows.Next() {
		var t opentrail.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CountTags counts a resource's tags within the transaction.
func (tx *Tx) CountTags(arn string) (int, error) {
	var n int
	err := tx.QueryRow("SELECT count(*) FROM tags WHERE arn = ?", arn).Scan(&n)
	return n, err
}

// PutTags adds or replaces tags on a resource.
func (tx *Tx) PutTags(arn string, tags []opentrail.Tag) error {
	for _, t := range tags {
		if _, err := tx.Exec(`INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)
			ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, t.Key, t.Value); err != nil {
			return fmt.Errorf("store tag: %w", err)
		}
	}
	return nil
}

// RemoveTags removes tags by key (and value, when given) from a resource.
func (tx *Tx) RemoveTags(arn string, tags []opentrail.Tag) error {
	for _, t := range tags {
		q, args := "DELETE FROM tags WHERE arn = ? AND key = ?", []any{arn, t.Key}
		if t.Value != "" {
			q += " AND value = ?"
			args = append(args, t.Value)
		}
		if _, err := tx.Exec(q, args...); err != nil {
			return fmt.Errorf("remove tag: %w", err)
		}
	}
	return nil
}

// DeleteTags removes every tag of a resource.
func (tx *Tx) DeleteTags(arn string) error {
	if _, err := tx.Exec("DELETE FROM tags WHERE arn = ?", arn); err != nil {
		return fmt.Errorf("delete tags: %w", err)
	}
	return nil
}
