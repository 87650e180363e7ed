package integrity_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opentrail/opentrail/blob"
	"github.com/opentrail/opentrail/integrity"
	"github.com/opentrail/opentrail/integrity/integritytest"
)

// benchChain is a bucket of digests and log files, and its total
// compressed and uncompressed log bytes.
func benchChain(b *testing.B, digests, logs, records int) (*chainCase, int64, int64) {
	b.Helper()
	store, err := blob.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := testSigners(b)
	c, err := integritytest.Build(context.Background(), store, s, integritytest.Options{Digests: digests, LogsPerDigest: logs, Records: records})
	if err != nil {
		b.Fatal(err)
	}
	var total, raw int64
	for _, keys := range c.Logs {
		for _, k := range keys {
			rc, info, err := store.GetObject(context.Background(), c.Bucket, k, 0, -1)
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(rc)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, zr)
			rc.Close()
			total += info.Size
			raw += n
		}
	}
	return &chainCase{store: store, chain: c, keys: []integrity.PublicKey{s.PublicKey()}}, total, raw
}

// BenchmarkValidate validates 2,000 small log files (20 digests of 100),
// and 100 large ones, from the embedded store (blob.NewDir) and from a
// local copy (LocalDir). MB/s counts
// compressed bytes, rawMB/s uncompressed; files/s is log files per second.
func BenchmarkValidate(b *testing.B) {
	for _, size := range []struct {
		name                   string
		digests, logs, records int
	}{{"small", 20, 100, 20}, {"large", 10, 10, 5000}} {
		for _, run := range []struct {
			where   string
			workers int
		}{{"blob", 1}, {"blob", 4}, {"blob", 16}, {"localdir", 16}} {
			b.Run(fmt.Sprintf("%s/%s/workers=%d", size.name, run.where, run.workers), func(b *testing.B) {
				workers := run.workers
				c, total, raw := benchChain(b, size.digests, size.logs, size.records)
				opts := c.options(integrity.BlobBucket(c.store))
				if run.where == "localdir" {
					dir := b.TempDir()
					copyToDir(b, c.store, c.chain.Bucket, dir, c.chain.Signed[len(c.chain.Signed)-1].Key)
					opts = c.options(integrity.LocalDir(dir))
					opts.SignatureFromChain = true
				}
				opts.Workers = workers
				files := size.digests * size.logs
				b.SetBytes(total)
				b.ResetTimer()
				for b.Loop() {
					n := 0
					err := integrity.Validate(context.Background(), opts, func(r integrity.Result) {
						if !r.Valid() {
							b.Fatalf("invalid: %s", r)
						}
						n++
					})
					if err != nil || n != files+size.digests {
						b.Fatalf("Validate: %d results, %v", n, err)
					}
				}
				b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
				b.ReportMetric(float64(raw)*float64(b.N)/b.Elapsed().Seconds()/1e6, "rawMB/s")
			})
		}
	}
}

// BenchmarkGunzipSHA256 is the single-pass limit the validator is measured
// against: one goroutine gunzipping and hashing the same log files, read
// from memory.
func BenchmarkGunzipSHA256(b *testing.B) {
	for _, size := range []struct {
		name                   string
		digests, logs, records int
	}{{"small", 20, 100, 20}, {"large", 10, 10, 5000}} {
		b.Run(size.name, func(b *testing.B) {
			c, total, raw := benchChain(b, size.digests, size.logs, size.records)
			var bodies [][]byte
			for _, keys := range c.chain.Logs {
				for _, k := range keys {
					rc, _, err := c.store.GetObject(context.Background(), c.chain.Bucket, k, 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(rc)
					rc.Close()
					bodies = append(bodies, body)
				}
			}
			b.SetBytes(total)
			br := bufio.NewReader(nil)
			zr := new(gzip.Reader)
			b.ResetTimer()
			for b.Loop() {
				for _, body := range bodies {
					br.Reset(bytesReader(body))
					if err := zr.Reset(br); err != nil {
						b.Fatal(err)
					}
					h := sha256.New()
					if _, err := io.Copy(h, zr); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(bodies))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
			b.ReportMetric(float64(raw)*float64(b.N)/b.Elapsed().Seconds()/1e6, "rawMB/s")
		})
	}
}

type sliceReader struct{ b []byte }

func bytesReader(b []byte) *sliceReader { return &sliceReader{b} }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// BenchmarkSignDigest builds, marshals, signs and gzips an hour's digest
// of 12 log files (one every 5 minutes) and of 500.
func BenchmarkSignDigest(b *testing.B) {
	s, _ := testSigners(b)
	end := time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC)
	for _, n := range []int{12, 500} {
		b.Run(fmt.Sprintf("logs=%d", n), func(b *testing.B) {
			var sum [32]byte
			for b.Loop() {
				d := &integrity.Digest{AccountID: "123456789012", StartTime: end.Add(-time.Hour), EndTime: end, S3Bucket: "bucket",
					S3Object: integrity.DigestKey("", "123456789012", "us-east-1", "trail", "us-east-1", end),
					Previous: &integrity.PreviousDigest{S3Bucket: "bucket", S3Object: "prev", HashValue: "00", HashAlgorithm: "SHA-256", Signature: "00"}}
				for i := range n {
					d.LogFiles = append(d.LogFiles, integrity.NewLogFile("bucket", fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/02/123456789012_CloudTrail_us-east-1_20260102T1005Z_%016d.json.gz", i),
						sum, end, end.Add(-time.Hour)))
				}
				if _, err := integrity.SignDigest(d, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
