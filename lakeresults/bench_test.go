package lakeresults_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/opentrail/opentrail/lakeresults"
)

// benchCSV is about OPENTRAIL_BENCH_RESULT_MB (default 16) MiB of CSV rows
// shaped like Lake results.
func benchCSV(b *testing.B) []byte {
	mb := 16
	if v, err := strconv.Atoi(os.Getenv("OPENTRAIL_BENCH_RESULT_MB")); err == nil && v > 0 {
		mb = v
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"eventTime", "eventSource", "eventName", "arn", "sourceIPAddress", "userAgent", "errorCode"})
	for i := 0; buf.Len() < mb<<20; i++ {
		cw.Write([]string{fmt.Sprintf("2026-01-02 03:%02d:%02d.000", i/60%60, i%60), "ec2.amazonaws.com", fmt.Sprint("Describe", i%37),
			fmt.Sprintf("arn:aws:iam::123456789012:user/user-%d", i%101), fmt.Sprintf("10.0.%d.%d", i%255, i%7),
			fmt.Sprintf("aws-cli/2.15.%d Python/3.11 \"quoted\", comma", i%9), ""})
		if i%1000 == 0 {
			cw.Flush()
		}
	}
	cw.Flush()
	return buf.Bytes()
}

// BenchmarkWriter measures splitting, compressing and signing results
// (the bucket is memory).
func BenchmarkWriter(b *testing.B) {
	in := benchCSV(b)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	var stored int
	for range b.N {
		bk := newBucket()
		w := lakeresults.NewWriter(context.Background(), bk.put, bkt, dir, 4<<20)
		for p := in; len(p) > 0; {
			n := min(len(p), 32<<10)
			w.Write(p[:n])
			p = p[n:]
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := lakeresults.NewSignFile("us-east-1", w.Files(), testNow, signer()); err != nil {
			b.Fatal(err)
		}
		stored = 0
		for _, o := range bk.objects {
			stored += len(o)
		}
	}
	b.ReportMetric(float64(len(in))/float64(stored), "compression")
}

// BenchmarkDownload measures verifying and joining saved results.
func BenchmarkDownload(b *testing.B) {
	in := benchCSV(b)
	bk := newBucket()
	files := save(b, bk, in, 4<<20, 1)
	b.Logf("%d MiB of CSV in %d files", len(in)>>20, len(files))
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		if err := lakeresults.Download(context.Background(), bk.get, keyOf(signer()), bkt, dir, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
