// Package integritytest builds signed chains of digest and log files in a
// bucket, for tests of the validator and of the tools that read them.
package integritytest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
)

// Options describe a chain. Zero fields take the defaults shown.
type Options struct {
	Account       string // "123456789012"
	Region        string // "us-east-1": the delivering and home region
	TrailName     string // "trail"
	Bucket        string // "trail-bucket"; created if missing
	Prefix        string // none
	Start         time.Time
	Digests       int // hourly digests (3)
	LogsPerDigest int // log files per digest (2; -1 for none)
	// BreakBefore lists digest indexes that start a new chain: an hour
	// without digest precedes them and their previousDigest* are null.
	BreakBefore []int
	// Records is the number of records per log file (5).
	Records int
}

// Chain is what Build wrote.
type Chain struct {
	Options
	TrailARN string
	Digests  []*integrity.Digest
	Signed   []*integrity.SignedDigest
	// Logs are the log file keys, per digest.
	Logs [][]string
	// End is the end time of the newest digest.
	End time.Time
}

// Build writes the chain's log files and digests into store, signed by s.
func Build(ctx context.Context, store blob.Store, s *integrity.Signer, o Options) (*Chain, error) {
	if o.Account == "" {
		o.Account = "123456789012"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.TrailName == "" {
		o.TrailName = "trail"
	}
	if o.Bucket == "" {
		o.Bucket = "trail-bucket"
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	}
	if o.Digests == 0 {
		o.Digests = 3
	}
	switch {
	case o.LogsPerDigest == 0:
		o.LogsPerDigest = 2
	case o.LogsPerDigest < 0:
		o.LogsPerDigest = 0
	}
	if o.Records == 0 {
		o.Records = 5
	}
	if err := store.CreateBucket(ctx, o.Bucket, o.Account, o.Region); err != nil && !errors.Is(err, blob.ErrBucketOwnedByYou) {
		return nil, err
	}
	c := &Chain{Options: o, TrailARN: fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", o.Region, o.Account, o.TrailName)}
	breaks := map[int]bool{}
	for _, i := range o.BreakBefore {
		breaks[i] = true
	}
	var prev *integrity.SignedDigest
	start := o.Start
	for i := range o.Digests {
		if breaks[i] {
			prev = nil
			start = start.Add(time.Hour)
		}
		end := start.Add(time.Hour)
		d := &integrity.Digest{AccountID: o.Account, StartTime: start, EndTime: end, S3Bucket: o.Bucket,
			S3Object: integrity.DigestKey(o.Prefix, o.Account, o.Region, o.TrailName, o.Region, end)}
		if prev != nil {
			d.Previous = prev.Previous()
		}
		var keys []string
		for j := range o.LogsPerDigest {
			at := start.Add(time.Duration(j+1) * time.Hour / time.Duration(o.LogsPerDigest+1))
			key, body, sum, oldest, newest := logFile(o, at, i, j)
			if _, err := store.PutObject(ctx, o.Bucket, key, bytes.NewReader(body), blob.PutOptions{ContentType: "application/json", ContentEncoding: "gzip"}); err != nil {
				return nil, err
			}
			d.LogFiles = append(d.LogFiles, integrity.NewLogFile(o.Bucket, key, sum, newest, oldest))
			if d.NewestEventTime.IsZero() || newest.After(d.NewestEventTime) {
				d.NewestEventTime = newest
			}
			if d.OldestEventTime.IsZero() || oldest.Before(d.OldestEventTime) {
				d.OldestEventTime = oldest
			}
			keys = append(keys, key)
		}
		sd, err := integrity.SignDigest(d, s)
		if err != nil {
			return nil, err
		}
		if _, err := store.PutObject(ctx, o.Bucket, sd.Key, bytes.NewReader(sd.Body), blob.PutOptions{ContentType: "application/json", ContentEncoding: "gzip", Metadata: sd.Metadata}); err != nil {
			return nil, err
		}
		c.Digests = append(c.Digests, d)
		c.Signed = append(c.Signed, sd)
		c.Logs = append(c.Logs, keys)
		c.End = end
		prev = sd
		start = end
	}
	return c, nil
}

// logFile makes a gzipped log file delivered at at.
func logFile(o Options, at time.Time, i, j int) (key string, body []byte, sum [32]byte, oldest, newest time.Time) {
	var raw bytes.Buffer
	raw.WriteString(`{"Records":[`)
	for r := range o.Records {
		if r > 0 {
			raw.WriteByte(',')
		}
		t := at.Add(-time.Duration(o.Records-r) * time.Second)
		if r == 0 {
			oldest = t
		}
		newest = t
		fmt.Fprintf(&raw, `{"eventVersion":"1.11","eventTime":"%s","eventSource":"cloudtrail.amazonaws.com","eventName":"DescribeTrails","awsRegion":"%s","sourceIPAddress":"127.0.0.1","eventID":"%08d-0000-4000-8000-%012d","recipientAccountId":"%s"}`,
			t.UTC().Format(integrity.TimeFormat), o.Region, i*1000+j, r, o.Account)
	}
	raw.WriteString(`]}`)
	sum = sha256.Sum256(raw.Bytes())
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	key = fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%04d%04d.json.gz", o.Account, o.Region, at.Format("2006/01/02"),
		o.Account, o.Region, at.Format("20060102T1504Z"), i, j)
	if o.Prefix != "" {
		key = o.Prefix + "/" + key
	}
	return key, z.Bytes(), sum, oldest, newest
}
