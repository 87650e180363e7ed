package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
	dtypes "github.com/aws/aws-sdk-go-v2/service/cloudtraildata/types"
)

// kill -9 while clients are ingesting: after a restart every acknowledged
// event is in the history exactly once.
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns the binary")
	}
	dir := t.TempDir()
	srv := spawn(t, dir)
	ts := srv.server()
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	channel := mustCreateHistoryChannel(t, ct, "crash")
	start := time.Now().Add(-time.Minute)

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := cloudtraildata.NewFromConfig(ts.awsConfig("us-east-1"), func(o *cloudtraildata.Options) {
				o.BaseEndpoint = aws.String(ts.URL)
				o.Retryer = aws.NopRetryer{}
			})
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				var evs []dtypes.AuditEvent
				for i := 0; i < 100; i++ {
					evs = append(evs, dtypes.AuditEvent{Id: aws.String(fmt.Sprintf("w%d-%d-%d", w, b, i)),
						EventData: aws.String(appEvent(fmt.Sprint("worker", w), "Crash", time.Now(), b*100+i))})
				}
				out, err := data.PutAuditEvents(ctx, &cloudtraildata.PutAuditEventsInput{ChannelArn: aws.String(channel), AuditEvents: evs})
				if err != nil {
					return // the server is gone: this batch was not acknowledged
				}
				mu.Lock()
				for _, s := range out.Successful {
					acked[aws.ToString(s.EventID)] = true
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	srv.kill(t)
	close(stop)
	wg.Wait()
	if len(acked) < 1000 {
		t.Fatalf("only %d events acknowledged before the crash", len(acked))
	}

	srv = spawn(t, dir)
	ts = srv.server()
	ct = ts.cloudtrail("us-east-1")
	// The index catches up after the restart: look until it has.
	var found map[string]int
	deadline := time.Now().Add(90 * time.Second)
	for {
		found = map[string]int{}
		events := lookupAll(t, ct, &cloudtrail.LookupEventsInput{StartTime: aws.Time(start),
			LookupAttributes: attr(types.LookupAttributeKeyEventName, "Crash")})
		for _, e := range events {
			found[aws.ToString(e.EventId)]++
		}
		missing := 0
		for id := range acked {
			if found[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events are missing after the restart", missing, len(acked))
		}
		time.Sleep(500 * time.Millisecond)
	}
	for id, n := range found {
		if n != 1 {
			t.Errorf("event %s is listed %d times", id, n)
		}
	}
	t.Logf("%d events acknowledged before kill -9, %d in the history after restart", len(acked), len(found))
	srv.stop(t)
}
