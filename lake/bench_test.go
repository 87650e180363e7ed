package lake_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/opentrail/opentrail/lake"
)

func benchEvents(n int) [][]byte {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = syntheticEvent(i, base.Add(time.Duration(i)*time.Second))
	}
	return evs
}

// BenchmarkAppend measures ingestion: batches of 5,000 synthetic ~1 KB
// records, each batch one transaction with its checkpoint.
func BenchmarkAppend(b *testing.B) {
	e := mustOpen(b, b.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	evs := benchEvents(batch)
	var size int
	for _, ev := range evs {
		size += len(ev)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	seq := int64(0)
	for b.Loop() {
		seq++
		if err := e.Append(ctx, storeID, seq, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(seq*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkQuery1M loads 1,000,000 events, then runs a sample aggregation.
func BenchmarkQuery1M(b *testing.B) {
	e := mustOpen(b, b.TempDir())
	ctx := context.Background()
	if err := e.CreateStore(ctx, storeID); err != nil {
		b.Fatal(err)
	}
	const total, batch = 1_000_000, 10_000
	evs := benchEvents(batch)
	start := time.Now()
	for seq := int64(1); seq*batch <= total; seq++ {
		if err := e.Append(ctx, storeID, seq, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d events in %v (%.0f events/s)", total, time.Since(start), total/time.Since(start).Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("Go heap after load: %d MB", ms.HeapAlloc>>20)
	queries := map[string]string{
		"by-source-name": `SELECT eventSource, eventName, count(*) AS n FROM ` + storeID + ` WHERE eventTime > '2024-01-01 00:00:00' GROUP BY 1, 2 ORDER BY n DESC LIMIT 20`,
		"errors-by-user": `SELECT userIdentity.arn, count(*) FROM ` + storeID + ` WHERE errorCode = 'AccessDenied' GROUP BY 1 ORDER BY 2 DESC`,
		"map-lookup":     `SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) FROM ` + storeID + ` GROUP BY 1`,
	}
	for name, q := range queries {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				res, err := e.Query(ctx, q, resolver(storeID), lake.QueryOptions{ID: queryID()})
				if err != nil || res.Status != lake.StatusFinished {
					b.Fatal(res, err)
				}
			}
		})
	}
}
