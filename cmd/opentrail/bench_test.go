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
	const workers = 8
	batches := make([][]dtypes.AuditEvent, 64)
	for i := range batches {
		for j := 0; j < 100; j++ {
			batches[i] = append(batches[i], dtypes.AuditEvent{Id: aws.String(fmt.Sprint("e", j)),
				EventData: aws.String(appEvent(fmt.Sprint("user", j%7), "Bench", time.Now(), i*100+j))})
		}
	}
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
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "events/s")
}
