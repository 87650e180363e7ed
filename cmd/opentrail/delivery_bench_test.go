package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opentrail/opentrail/blob"
)

// mustLoggingTrail creates a bucket and a logging trail on the server.
func mustLoggingTrail(tb testing.TB, ts *testServer, bucket, name string) {
	tb.Helper()
	ctx := context.Background()
	s3c, ct := ts.s3("us-east-1"), ts.cloudtrail("us-east-1")
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		mustBucket(tb, s3c, bucket, true)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket)}); err != nil {
		tb.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkDeliveryLatency measures, with a one-second delivery interval,
// the time from a call's completion to its record being readable in a log
// file in the bucket. Calls come at about 100 per second; the bucket is
// polled every 20 ms. One b.N is one call.
//
//	go test -run='^$' -bench=DeliveryLatency -benchtime=1000x ./cmd/opentrail/
func BenchmarkDeliveryLatency(b *testing.B) {
	ts := mustRunMain(b, func(m *Main) { m.DeliveryInterval = time.Second; m.LogLevel = "error" })
	mustLoggingTrail(b, ts, "latency-logs", "latency")
	store := ts.m.buckets
	ctx := context.Background()
	var mu sync.Mutex
	done := map[string]time.Time{} // request ID -> call completed
	seen := map[string]time.Time{} // request ID -> readable in the bucket
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		read := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			res, err := store.ListObjects(ctx, "latency-logs", blob.ListOptions{Prefix: "AWSLogs/", MaxKeys: 100000})
			if err != nil {
				continue
			}
			for _, o := range res.Objects {
				if read[o.Key] {
					continue
				}
				read[o.Key] = true
				now := time.Now()
				rc, _, err := store.GetObject(ctx, "latency-logs", o.Key, 0, -1)
				if err != nil {
					b.Error(err)
					continue
				}
				raw, _ := io.ReadAll(rc)
				rc.Close()
				zr, _ := gzip.NewReader(bytes.NewReader(raw))
				js, _ := io.ReadAll(zr)
				var f struct{ Records []struct{ RequestID string } }
				json.Unmarshal(js, &f)
				mu.Lock()
				for _, r := range f.Records {
					seen[r.RequestID] = now
				}
				mu.Unlock()
			}
		}
	}()
	ct := ts.cloudtrail("us-east-1")
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	for range b.N {
		<-tick.C
		out, err := ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{})
		if err != nil {
			b.Fatal(err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		mu.Lock()
		done[id] = time.Now()
		mu.Unlock()
	}
	tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for id := range done {
			if _, ok := seen[id]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == len(done) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-polled
	b.StopTimer()
	var lat []time.Duration
	for id, t := range done {
		s, ok := seen[id]
		if !ok {
			b.Fatalf("call %s never delivered", id)
		}
		lat = append(lat, s.Sub(t))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[int(0.99*float64(len(lat)-1))]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkDeliveryThroughput measures ingest through PutAuditEvents (as
// BenchmarkPutAuditEvents) with two trails logging the events, and how long
// after the last acknowledgment both trails have delivered everything; it
// reports the benchmark process's heap in use (server and clients) before and after. One b.N is a
// batch of 100 events.
//
//	go test -run='^$' -bench=DeliveryThroughput -benchtime=3000x ./cmd/opentrail/
func BenchmarkDeliveryThroughput(b *testing.B) {
	ts := mustRunMain(b, func(m *Main) { m.Synchronous = "FULL"; m.LogLevel = "error"; m.DeliveryInterval = 5 * time.Second })
	mustLoggingTrail(b, ts, "busy-logs-1", "first")
	mustLoggingTrail(b, ts, "busy-logs-2", "second")
	channel := mustCreateHistoryChannel(b, ts.cloudtrail("us-east-1"), "busy")
	batches := auditBatches()
	heapBefore := heapInUse()
	ingest := sendAuditBatches(b, ts, channel, batches)
	acked := time.Now()
	// Both trails caught up: their checkpoints reach the journal's head.
	head := ts.m.db.Head()
	for _, name := range []string{"first", "second"} {
		for {
			cp, err := ts.m.db.Checkpoint(context.Background(), "trail:arn:aws:cloudtrail:us-east-1:"+testAccount+":trail/"+name)
			if err != nil {
				b.Fatal(err)
			}
			if cp >= head-1 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*100)/ingest.Seconds(), "events/s")
	b.ReportMetric(time.Since(acked).Seconds(), "catch-up-s")
	b.ReportMetric(float64(heapBefore)/(1<<20), "heap-before-MiB")
	b.ReportMetric(float64(heapInUse())/(1<<20), "heap-after-MiB")
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
