package main

import (
	"bytes"
	"context"
	"path/filepath"
	"time"

	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/lake"
	"github.com/opentrail/opentrail/lakeingest"
)

// openLake opens CloudTrail Lake's DuckDB database in DATA_DIR/lake, marks
// the queries a previous run left unfinished as failed, and returns the
// manager that feeds the event data stores (Run it).
func (m *Main) openLake(ctx context.Context) (*lakeingest.Manager, error) {
	var err error
	if m.lake, err = lake.Open(filepath.Join(m.DataDir, "lake"), lake.Options{
		MemoryLimit: m.LakeMemoryLimit,
		// One account's quota of running queries, and room to check new
		// statements (and serve other accounts) meanwhile.
		MaxConcurrentQueries: 16,
	}); err != nil {
		return nil, err
	}
	if err := lakeingest.FailInterrupted(ctx, m.db, time.Now()); err != nil {
		return nil, err
	}
	return lakeingest.New(lakeingest.Options{DB: m.db, Lake: m.lake, Logger: m.log, MaintainEvery: m.RetentionEvery}), nil
}

// queryResults writes saved Lake query results into the bucket backend.
type queryResults struct{ store blob.Store }

func (q queryResults) PutObject(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	_, err := q.store.PutObject(ctx, bucket, key, bytes.NewReader(body), blob.PutOptions{ContentType: contentType})
	return err
}
