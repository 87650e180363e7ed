package sns_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/opentrail/opentrail/sns"
)

// autoSubscriber is an endpoint that confirms its subscription by
// following SubscribeURL and counts the notifications it receives.
func autoSubscriber(tb testing.TB, received *atomic.Int64) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.Header.Get("x-amz-sns-message-type") {
		case "Notification":
			received.Add(1)
		case "SubscriptionConfirmation":
			var m struct{ SubscribeURL string }
			json.Unmarshal(body, &m)
			go func() {
				if resp, err := http.Get(m.SubscribeURL); err == nil {
					resp.Body.Close()
				}
			}()
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// BenchmarkPublish publishes through the internal API to a topic with
// three confirmed local HTTP subscribers and waits until every message
// has reached all three. The figure per operation is one publish and its
// three deliveries.
func BenchmarkPublish(b *testing.B) {
	h := mustHarness(b, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(b, c, "bench")
	var received atomic.Int64
	for range 3 {
		srv := autoSubscriber(b, &received)
		if _, err := c.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(srv.URL)}); err != nil {
			b.Fatal(err)
		}
	}
	s := h.service()
	for deadline := time.Now().Add(10 * time.Second); ; {
		tp, err := s.Topic(ctx, topic, account, region)
		if err != nil {
			b.Fatal(err)
		}
		if tp.Attributes["SubscriptionsConfirmed"] == "3" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("subscriptions not confirmed: %v", tp.Attributes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	message := `{"s3Bucket":"logs","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/01/111122223333_CloudTrail_us-east-1_20250101T0000Z_abcdefghijklmnop.json.gz"]}`
	n := 0
	start := time.Now()
	for b.Loop() {
		if _, err := s.Publish(ctx, topic, "", message); err != nil {
			b.Fatal(err)
		}
		n++
	}
	for int(received.Load()) < 3*n {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(3*n)/time.Since(start).Seconds(), "deliveries/s")
}
