package sns_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/google/go-cmp/cmp"

	"github.com/opentrail/opentrail/sns"
)

func TestDelivery(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	ctx := context.Background()
	topic := mustCreateTopic(t, c, "trail-notes")
	sub := mustSubscriber(t)
	subARN := mustConfirmed(t, c, topic, sub)
	cert := mustCert(t, h.service().SigningCertURL())

	messages := []struct{ subject, message string }{
		{"", `{"s3Bucket":"logs","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2025/01/01/x.json.gz"]}`},
		{"CloudTrail", "second <message> & more"},
		{"", "third\nwith a line break"},
	}
	ids := map[string]bool{}
	for _, m := range messages {
		in := &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(m.message)}
		if m.subject != "" {
			in.Subject = aws.String(m.subject)
		}
		out, err := c.Publish(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids[aws.ToString(out.MessageId)] = true
	}
	got := map[string]bool{}
	for range messages {
		d := sub.next(t)
		env := decode(t, d.body)
		if err := verify(cert, env); err != nil {
			t.Errorf("signature of %s: %v", env["MessageId"], err)
		}
		wantHeaders := map[string]string{
			"X-Amz-Sns-Message-Type":     "Notification",
			"X-Amz-Sns-Message-Id":       env["MessageId"],
			"X-Amz-Sns-Topic-Arn":        topic,
			"X-Amz-Sns-Subscription-Arn": subARN,
			"Content-Type":               "text/plain; charset=UTF-8",
		}
		for k, want := range wantHeaders {
			if d.header.Get(k) != want {
				t.Errorf("header %s = %q, want %q", k, d.header.Get(k), want)
			}
		}
		if env["TopicArn"] != topic || env["SignatureVersion"] != "1" || env["SigningCertURL"] != h.service().SigningCertURL() ||
			!strings.Contains(env["UnsubscribeURL"], "Action=Unsubscribe") || env["Timestamp"] == "" {
			t.Errorf("envelope = %s", d.body)
		}
		got[env["MessageId"]] = true
		found := false
		for _, m := range messages {
			found = found || (m.message == env["Message"] && m.subject == env["Subject"])
		}
		if !found {
			t.Errorf("unexpected message %q (subject %q)", env["Message"], env["Subject"])
		}
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("delivered message IDs (-published +delivered):\n%s", diff)
	}
	sub.none(t)

	// A tampered envelope does not verify: the check above can fail.
	env := map[string]string{"Type": "Notification", "MessageId": "m", "TopicArn": topic, "Message": "x", "Timestamp": "t", "SignatureVersion": "1", "Signature": "AAAA"}
	if verify(cert, env) == nil {
		t.Error("a forged signature verifies")
	}

	// SignatureVersion 2, and message attributes in the envelope.
	if _, err := c.SetTopicAttributes(ctx, &awssns.SetTopicAttributesInput{TopicArn: aws.String(topic), AttributeName: aws.String("SignatureVersion"), AttributeValue: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("v2"), Subject: aws.String("s"),
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("k")}}}); err != nil {
		t.Fatal(err)
	}
	d := sub.next(t)
	env = decode(t, d.body)
	if env["SignatureVersion"] != "2" {
		t.Errorf("SignatureVersion = %q, want 2", env["SignatureVersion"])
	}
	if err := verify(cert, env); err != nil {
		t.Errorf("SignatureVersion 2: %v", err)
	}
	var full struct {
		MessageAttributes map[string]struct{ Type, Value string }
	}
	json.Unmarshal(d.body, &full)
	if diff := cmp.Diff(map[string]struct{ Type, Value string }{"kind": {"String", "k"}}, full.MessageAttributes); diff != "" {
		t.Errorf("MessageAttributes (-want +got):\n%s", diff)
	}

	// MessageStructure json: the http entry wins over default.
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), MessageStructure: aws.String("json"),
		Message: aws.String(`{"default":"for everyone","http":"for http"}`)}); err != nil {
		t.Fatal(err)
	}
	if env := decode(t, sub.next(t).body); env["Message"] != "for http" {
		t.Errorf("MessageStructure json delivered %q, want the http entry", env["Message"])
	}

	// Raw delivery sends the bare message.
	if _, err := c.SetSubscriptionAttributes(ctx, &awssns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN), AttributeName: aws.String("RawMessageDelivery"), AttributeValue: aws.String("true")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("just this")}); err != nil {
		t.Fatal(err)
	}
	d = sub.next(t)
	if string(d.body) != "just this" || d.header.Get("X-Amz-Sns-Rawdelivery") != "true" || d.header.Get("X-Amz-Sns-Message-Type") != "Notification" {
		t.Errorf("raw delivery = %q, headers %v", d.body, d.header)
	}

	// After Unsubscribe nothing more arrives.
	if _, err := c.Unsubscribe(ctx, &awssns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("nobody")}); err != nil {
		t.Fatal(err)
	}
	sub.none(t)
}

func TestConfirmationURL(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	topic := mustCreateTopic(t, c, "t")
	sub := mustSubscriber(t)
	if _, err := c.Subscribe(context.Background(), &awssns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(sub.URL)}); err != nil {
		t.Fatal(err)
	}
	d := sub.next(t)
	env := decode(t, d.body)
	cert := mustCert(t, env["SigningCertURL"])
	if err := verify(cert, env); err != nil {
		t.Errorf("confirmation signature: %v", err)
	}
	if d.header.Get("X-Amz-Sns-Message-Type") != "SubscriptionConfirmation" || env["Token"] == "" ||
		!strings.HasPrefix(env["SubscribeURL"], h.srv.URL+"/?Action=ConfirmSubscription&TopicArn=") {
		t.Errorf("confirmation = %v %s", d.header, d.body)
	}
	get := func(u string, method string) int {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	served := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.returned)
	}
	before := served()
	// HEAD must not confirm, a wrong token is refused, the right one works.
	if got := get(env["SubscribeURL"], http.MethodHead); got == http.StatusOK {
		t.Errorf("HEAD SubscribeURL = %d", got)
	}
	if got := get(strings.Replace(env["SubscribeURL"], env["Token"], "beef", 1), http.MethodGet); got != http.StatusBadRequest {
		t.Errorf("GET SubscribeURL with a wrong token = %d, want 400", got)
	}
	if got := get(env["SubscribeURL"], http.MethodGet); got != http.StatusOK {
		t.Errorf("GET SubscribeURL = %d, want 200", got)
	}
	if served() != before {
		t.Errorf("unauthenticated confirmation went through Serve")
	}
	list, err := c.ListSubscriptionsByTopic(context.Background(), &awssns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	if err != nil || len(list.Subscriptions) != 1 || aws.ToString(list.Subscriptions[0].SubscriptionArn) == "PendingConfirmation" {
		t.Errorf("after confirmation: %+v %v", list, err)
	}
	// Anything else unauthenticated is not ours.
	rec := httptest.NewRecorder()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/?Action=ListTopics", nil)
	if h.service().ServeUnauthenticated(rec, req) {
		t.Error("ServeUnauthenticated took an unsigned ListTopics")
	}
	req, _ = http.NewRequest(http.MethodGet, env["SubscribeURL"], nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	if h.service().ServeUnauthenticated(rec, req) {
		t.Error("ServeUnauthenticated took a signed ConfirmSubscription")
	}
}

func TestRetry(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	h.run()
	c := h.client(keyOwner)
	topic := mustCreateTopic(t, c, "t")
	sub := mustSubscriber(t)
	mustConfirmed(t, c, topic, sub)
	var calls []time.Time
	sub.mu.Lock()
	base := sub.n
	sub.status = func(n int) int {
		calls = append(calls, time.Now())
		if n-base <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	sub.mu.Unlock()
	if _, err := c.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("persist")}); err != nil {
		t.Fatal(err)
	}
	if env := decode(t, sub.next(t).body); env["Message"] != "persist" {
		t.Errorf("delivered %q", env["Message"])
	}
	sub.none(t)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("%d attempts, want 3", len(calls))
	}
	// Backoff: retries wait at least the policy's 10 ms, then 20 ms
	// (measured where the subscriber receives them: allow a little slack
	// for the two clocks; load only makes the delays longer).
	if d1, d2 := calls[1].Sub(calls[0]), calls[2].Sub(calls[1]); d1 < 8*time.Millisecond || d2 < 16*time.Millisecond {
		t.Errorf("retry delays %v, %v; want about 10ms, 20ms at least", d1, d2)
	}
}

func TestGiveUp(t *testing.T) {
	h := mustHarness(t, sns.Options{MaxAttempts: 3, MinRetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond})
	h.run()
	c := h.client(keyOwner)
	topic := mustCreateTopic(t, c, "t")
	sub := mustSubscriber(t)
	mustConfirmed(t, c, topic, sub)
	sub.mu.Lock()
	sub.status = func(int) int { return http.StatusBadGateway }
	sub.mu.Unlock()
	if _, err := c.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("doomed")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sub.mu.Lock()
		n := sub.n
		sub.mu.Unlock()
		if n >= 1+3 { // the confirmation, then three attempts
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests, want 4", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.n != 4 {
		t.Errorf("%d requests after giving up, want 4", sub.n)
	}
}

func TestRestart(t *testing.T) {
	h := mustHarness(t, sns.Options{})
	stop := h.run()
	c := h.client(keyOwner)
	topic := mustCreateTopic(t, c, "t")
	sub := mustSubscriber(t)
	mustConfirmed(t, c, topic, sub)
	stop()

	// Published while no delivery loop runs.
	for i := range 3 {
		if _, err := c.Publish(context.Background(), &awssns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(fmt.Sprint("pending ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	sub.none(t)
	h.reopen()
	h.run()
	cert := mustCert(t, h.service().SigningCertURL())
	got := map[string]bool{}
	for len(got) < 3 {
		env := decode(t, sub.next(t).body)
		if err := verify(cert, env); err != nil {
			t.Error(err)
		}
		if env["Type"] == "SubscriptionConfirmation" {
			// At least once: a confirmation whose answer was cut off by
			// the stop may come again.
			continue
		}
		got[env["Message"]] = true
	}
	if diff := cmp.Diff(map[string]bool{"pending 0": true, "pending 1": true, "pending 2": true}, got); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	sub.none(t)
}

func TestKeyFile(t *testing.T) {
	path := t.TempDir() + "/keys/sns.pem"
	h := mustHarness(t, sns.Options{KeyFile: path})
	first := h.service().CertificatePEM()
	h.reopen()
	if string(h.service().CertificatePEM()) != string(first) {
		t.Error("the certificate changed across a restart with the same key file")
	}
	// Without a key or key file, the key lives in the database.
	h2 := mustHarness(t, sns.Options{})
	h2.opts.Key = nil
	h2.reopen()
	dbCert := h2.service().CertificatePEM()
	h2.reopen()
	if string(h2.service().CertificatePEM()) != string(dbCert) || string(dbCert) == string(first) {
		t.Error("the database key is not kept across a restart")
	}
}
