package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
	dtypes "github.com/aws/aws-sdk-go-v2/service/cloudtraildata/types"
)

// BenchmarkPutAuditEvents measures acknowledged-durable ingest through the
// real SDK client: several clients send batches of 100 events over
// loopback to a server with synchronous=FULL. One b.N is one batch.
//
//	go test -run='^$' -bench=PutAuditEvents -benchtime=2000x ./cmd/opentrail/
func BenchmarkPutAuditEvents(b *testing.B) {
	ts := mustRunMain(b, func(m *Main) { m.Synchronous = os.Getenv("BENCH_SYNC"); m.LogLevel = "error" })
	channel := mustCreateHistoryChannel(b, ts.cloudtrail("us-east-1"), "bench")
	elapsed := sendAuditBatches(b, ts, channel, auditBatches())
	b.ReportMetric(float64(b.N*100)/elapsed.Seconds(), "events/s")
}

// BenchmarkIngestToLake measures the whole path into an event data store:
// the same clients as BenchmarkPutAuditEvents send to a channel whose
// destination is a store, and the clock stops when a query of the store
// counts every event. It reports the acknowledged rate and the rate at
// which the store took the events. One b.N is one batch of 100.
//
//	go test -run='^$' -bench=IngestToLake -benchtime=3000x ./cmd/opentrail/
func BenchmarkIngestToLake(b *testing.B) {
	ts := mustRunMain(b, func(m *Main) { m.Synchronous = os.Getenv("BENCH_SYNC"); m.LogLevel = "error" })
	ct := ts.cloudtrail("us-east-1")
	ctx := context.Background()
	_, id := mustStore(b, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("bench"),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"ActivityAuditLog"}}}}}})
	ch, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("bench"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(id)}}})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	acked := sendAuditBatches(b, ts, aws.ToString(ch.ChannelArn), auditBatches())
	want := b.N * 100
	for {
		if n := countQuery(b, ct, `SELECT count(*) FROM `+id); n >= want {
			if n != want {
				b.Fatalf("the store holds %d events, %d were sent", n, want)
			}
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatal("the store did not catch up in 10 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ReportMetric(float64(want)/acked.Seconds(), "acked-events/s")
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "stored-events/s")
}

// auditBatches are 64 batches of 100 application events for the ingest
// benchmarks.
func auditBatches() [][]dtypes.AuditEvent {
	batches := make([][]dtypes.AuditEvent, 64)
	for i := range batches {
		for j := 0; j < 100; j++ {
			batches[i] = append(batches[i], dtypes.AuditEvent{Id: aws.String(fmt.Sprint("e", j)),
				EventData: aws.String(appEvent(fmt.Sprint("user", j%7), "Bench", time.Now(), i*100+j))})
		}
	}
	return batches
}

// sendAuditBatches has 8 SDK clients send b.N of batches (in turn) to
// channel with PutAuditEvents, each call to be acknowledged whole, and
// returns how long they took. It resets the benchmark timer first.
func sendAuditBatches(b *testing.B, ts *testServer, channel string, batches [][]dtypes.AuditEvent) time.Duration {
	const workers = 8
	transport := &http.Transport{MaxIdleConnsPerHost: workers}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := ts.awsConfig("us-east-1")
			cfg.HTTPClient = &http.Client{Transport: transport}
			data := cloudtraildata.NewFromConfig(cfg, func(o *cloudtraildata.Options) { o.BaseEndpoint = aws.String(ts.URL) })
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				out, err := data.PutAuditEvents(context.Background(), &cloudtraildata.PutAuditEventsInput{
					ChannelArn: aws.String(channel), AuditEvents: batches[i%int64(len(batches))]})
				if err != nil {
					b.Error(err)
					return
				}
				if len(out.Successful) != 100 {
					b.Errorf("%d events acknowledged, want 100", len(out.Successful))
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
