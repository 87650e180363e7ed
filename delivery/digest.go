package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/opentrail/opentrail"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/journal"
)

// Signers give the region's current digest signing key.
type Signers interface {
	Signer(ctx context.Context, region string) (*integrity.Signer, error)
}

// DefaultDigestInterval is AWS's: one digest per region per hour.
const DefaultDigestInterval = time.Hour

// digestMigration keeps what digests need (package doc of digest.go):
//
//   - digest_files: the log files a trail delivered while log file
//     validation was on and that no digest lists yet. A file is recorded in
//     the transaction that marks its batch written, so a crash cannot lose
//     it; a redone batch records it once (primary key).
//   - digest_chains: one row per trail and region whose chain is open:
//     where the next digest starts, the link to the previous digest (null
//     for a starting digest), and, while a digest is being written, its
//     end time, the last file it lists and whether it closes the chain. A
//     digest is an intent first: after a crash it is written again with
//     the same key and the same files, so the chain has no gap and no
//     duplicate.
var digestMigration = journal.Migration{Name: "delivery/2-digests", SQL: `
CREATE TABLE digest_files (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	trail     TEXT NOT NULL,
	region    TEXT NOT NULL,
	bucket    TEXT NOT NULL,
	key       TEXT NOT NULL,
	hash      BLOB NOT NULL,     -- SHA-256 of the uncompressed file
	newest    INTEGER NOT NULL,  -- unix seconds
	oldest    INTEGER NOT NULL,
	UNIQUE (trail, key)
);
CREATE INDEX digest_files_by_trail ON digest_files (trail, region, id);
CREATE TABLE digest_chains (
	trail       TEXT NOT NULL,
	region      TEXT NOT NULL,
	start       INTEGER NOT NULL,  -- unix seconds: the next digest's digestStartTime
	previous    TEXT,              -- JSON integrity.PreviousDigest; NULL: the next digest starts a chain
	pending_end INTEGER,           -- a digest ending here is being written
	pending_upto INTEGER,          -- ... listing the files with id <= this
	pending_final INTEGER NOT NULL DEFAULT 0, -- ... and it closes the chain
	PRIMARY KEY (trail, region)
);`}

// recordDigestFiles notes delivered files for the trail's next digests.
func recordDigestFiles(tx *journal.Tx, arn string, files []Delivered) error {
	for _, f := range files {
		if _, err := tx.Exec(`INSERT INTO digest_files (trail, region, bucket, key, hash, newest, oldest)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trail, key) DO NOTHING`,
			arn, f.Region, f.Bucket, f.Key, f.Hash[:], f.Newest.Unix(), f.Oldest.Unix()); err != nil {
			return fmt.Errorf("record file for digests: %w", err)
		}
	}
	return nil
}

// digestRegions are the regions a trail delivers digests for.
func (c *consumer) digestRegions(t *opentrail.Trail) []string {
	if t.IsMultiRegion && len(c.m.opts.Regions) > 0 {
		return c.m.opts.Regions
	}
	return []string{t.HomeRegion}
}

type chain struct {
	region       string
	start        time.Time
	previous     *integrity.PreviousDigest
	pending      bool
	pendingEnd   time.Time
	pendingUpto  int64
	pendingFinal bool
}

func (c *consumer) chains(ctx context.Context) (map[string]*chain, error) {
	rows, err := c.m.opts.DB.Reader().QueryContext(ctx, `SELECT region, start, previous, pending_end, pending_upto, pending_final
		FROM digest_chains WHERE trail = ?`, c.arn)
	if err != nil {
		return nil, fmt.Errorf("read digest chains: %w", err)
	}
	defer rows.Close()
	out := map[string]*chain{}
	for rows.Next() {
		var ch chain
		var start int64
		var prev sql.NullString
		var end, upto sql.NullInt64
		if err := rows.Scan(&ch.region, &start, &prev, &end, &upto, &ch.pendingFinal); err != nil {
			return nil, err
		}
		ch.start = time.Unix(start, 0).UTC()
		if prev.Valid {
			ch.previous = new(integrity.PreviousDigest)
			if err := json.Unmarshal([]byte(prev.String), ch.previous); err != nil {
				return nil, fmt.Errorf("digest chain of %s in %s: %w", c.arn, ch.region, err)
			}
		}
		if end.Valid {
			ch.pending, ch.pendingEnd, ch.pendingUpto = true, time.Unix(end.Int64, 0).UTC(), upto.Int64
		}
		out[ch.region] = &ch
	}
	return out, rows.Err()
}

// digests opens, continues and closes the trail's digest chains. It runs
// between deliveries on the consumer's goroutine. idle reports that no
// picked event waits for delivery, so a chain may close: its final digest
// then lists every file up to the call that ended it (StopLogging, the
// UpdateTrail that disabled validation, DeleteTrail). deleted is set once
// the trail is gone and everything it recorded is delivered.
func (c *consumer) digests(ctx context.Context, idle, deleted bool) error {
	if c.m.opts.Signers == nil {
		return nil
	}
	t := c.trailFor(1<<62 - 1) // the trail as it is now (its last configuration)
	if t == nil {
		return nil
	}
	on := !deleted && t.Logging && t.LogFileValidation
	if !on && c.noChains {
		return nil // only this function opens chains, and only when on
	}
	chains, err := c.chains(ctx)
	if err != nil {
		return err
	}
	c.noChains = len(chains) == 0
	now := c.m.opts.Now().UTC().Truncate(time.Second)
	want := map[string]bool{}
	if on {
		for _, r := range c.digestRegions(t) {
			want[r] = true
		}
	}
	db := c.m.opts.DB
	for region := range want {
		if chains[region] == nil {
			// A chain starts: its first digest has null previous fields.
			err := db.Update(ctx, func(tx *journal.Tx) error {
				_, err := tx.Exec(`INSERT INTO digest_chains (trail, region, start) VALUES (?, ?, ?)
					ON CONFLICT DO NOTHING`, c.arn, region, now.Unix())
				return err
			})
			if err != nil {
				return fmt.Errorf("start digest chain: %w", err)
			}
		}
	}
	for region, ch := range chains {
		if !ch.pending {
			final := !want[region]
			due := now.Sub(ch.start) >= c.m.opts.DigestInterval
			if final && !idle {
				continue // its last log files are not delivered yet
			}
			if !final && !due {
				continue
			}
			if !now.After(ch.start) {
				continue // a digest spans at least a second: keys are unique
			}
			var upto int64
			err := db.Update(ctx, func(tx *journal.Tx) error {
				if err := tx.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM digest_files WHERE trail = ? AND region = ?`,
					c.arn, region).Scan(&upto); err != nil {
					return err
				}
				_, err := tx.Exec(`UPDATE digest_chains SET pending_end = ?, pending_upto = ?, pending_final = ?
					WHERE trail = ? AND region = ?`, now.Unix(), upto, final, c.arn, region)
				return err
			})
			if err != nil {
				return fmt.Errorf("store digest intent: %w", err)
			}
			ch.pending, ch.pendingEnd, ch.pendingUpto, ch.pendingFinal = true, now, upto, final
		}
		if err := c.writeDigest(ctx, t, ch); err != nil {
			return err
		}
	}
	return nil
}

// writeDigest writes a chain's pending digest, then moves the chain on.
func (c *consumer) writeDigest(ctx context.Context, t *opentrail.Trail, ch *chain) error {
	db := c.m.opts.DB
	rows, err := db.Reader().QueryContext(ctx, `SELECT bucket, key, hash, newest, oldest FROM digest_files
		WHERE trail = ? AND region = ? AND id <= ? ORDER BY id`, c.arn, ch.region, ch.pendingUpto)
	if err != nil {
		return fmt.Errorf("read files for digest: %w", err)
	}
	d := &integrity.Digest{AccountID: t.Account, StartTime: ch.start, EndTime: ch.pendingEnd, S3Bucket: t.S3BucketName,
		S3Object: integrity.DigestKey(t.S3KeyPrefix, t.Account, ch.region, t.Name, t.HomeRegion, ch.pendingEnd),
		Previous: ch.previous, LogFiles: []integrity.LogFile{}}
	for rows.Next() {
		var bucket, key string
		var hash []byte
		var newest, oldest int64
		if err := rows.Scan(&bucket, &key, &hash, &newest, &oldest); err != nil {
			rows.Close()
			return err
		}
		var sum [32]byte
		copy(sum[:], hash)
		f := integrity.NewLogFile(bucket, key, sum, time.Unix(newest, 0).UTC(), time.Unix(oldest, 0).UTC())
		d.LogFiles = append(d.LogFiles, f)
		if d.NewestEventTime.IsZero() || f.NewestEventTime.After(d.NewestEventTime) {
			d.NewestEventTime = f.NewestEventTime
		}
		if d.OldestEventTime.IsZero() || f.OldestEventTime.Before(d.OldestEventTime) {
			d.OldestEventTime = f.OldestEventTime
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	signer, err := c.m.opts.Signers.Signer(ctx, ch.region)
	if err != nil {
		return fmt.Errorf("digest signing key of %s: %w", ch.region, err)
	}
	sd, err := integrity.SignDigest(d, signer)
	if err != nil {
		return err
	}
	// Digests are not encrypted with the trail's KMS key (AWS: SSE-S3).
	err = c.m.opts.Store.PutObject(ctx, sd.Bucket, sd.Key, sd.Body, PutOptions{ContentType: "application/json",
		ContentEncoding: "gzip", Metadata: sd.Metadata})
	if err != nil {
		msg := deliveryError(err)
		if uerr := db.Update(ctx, func(tx *journal.Tx) error {
			return tx.UpdateTrailStatus(c.arn, func(st *opentrail.TrailStatus) { st.LatestDigestDeliveryError = msg })
		}); uerr != nil {
			c.log.Warn("store trail status", slog.String("err", uerr.Error()))
		}
		return fmt.Errorf("write digest %s to bucket %s: %w", sd.Key, sd.Bucket, err)
	}
	prev, err := json.Marshal(sd.Previous())
	if err != nil {
		return err
	}
	done := c.m.opts.Now()
	err = db.Update(ctx, func(tx *journal.Tx) error {
		if _, err := tx.Exec(`DELETE FROM digest_files WHERE trail = ? AND region = ? AND id <= ?`,
			c.arn, ch.region, ch.pendingUpto); err != nil {
			return err
		}
		if ch.pendingFinal {
			if _, err := tx.Exec(`DELETE FROM digest_chains WHERE trail = ? AND region = ?`, c.arn, ch.region); err != nil {
				return err
			}
		} else if _, err := tx.Exec(`UPDATE digest_chains SET start = ?, previous = ?, pending_end = NULL,
			pending_upto = NULL, pending_final = 0 WHERE trail = ? AND region = ?`,
			ch.pendingEnd.Unix(), string(prev), c.arn, ch.region); err != nil {
			return err
		}
		return tx.UpdateTrailStatus(c.arn, func(st *opentrail.TrailStatus) {
			st.LatestDigestDeliveryError, st.LatestDigestDeliveryTime = "", done
		})
	})
	if err != nil {
		return fmt.Errorf("store digest %s: %w", sd.Key, err)
	}
	c.log.Debug("digest delivered", slog.String("key", sd.Key), slog.Int("log_files", len(d.LogFiles)))
	return nil
}
