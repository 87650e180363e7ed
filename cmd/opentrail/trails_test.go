package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
)

func (ts *testServer) s3(region string) *s3.Client {
	return s3.NewFromConfig(ts.awsConfig(region), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(ts.URL)
		o.UsePathStyle = true
	})
}

func (ts *testServer) sns(region string) *sns.Client {
	return sns.NewFromConfig(ts.awsConfig(region), func(o *sns.Options) { o.BaseEndpoint = aws.String(ts.URL) })
}

// trailBucketPolicy is the bucket policy AWS documents for CloudTrail.
func trailBucketPolicy(bucket, account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"AWSCloudTrailAclCheck20150319","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl","Resource":"arn:aws:s3:::%[1]s"},
 {"Sid":"AWSCloudTrailWrite20150319","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject",
  "Resource":"arn:aws:s3:::%[1]s/AWSLogs/%[2]s/*","Condition":{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}]}`, bucket, account)
}

// topicPolicy lets CloudTrail publish to a topic.
func topicPolicy(topicARN string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"AWSCloudTrailSNSPolicy20131101","Effect":"Allow",
 "Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"SNS:Publish","Resource":"%s"}]}`, topicARN)
}

func mustBucket(tb testing.TB, c *s3.Client, bucket string, policy bool) {
	tb.Helper()
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		tb.Fatal(err)
	}
	if policy {
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(trailBucketPolicy(bucket, testAccount))}); err != nil {
			tb.Fatal(err)
		}
	}
}

// subscriber is an HTTP endpoint subscribed to a topic: it confirms the
// subscription and keeps the notifications' messages.
type subscriber struct {
	*httptest.Server
	mu        sync.Mutex
	messages  []string
	confirmed bool
}

func newSubscriber(tb testing.TB) *subscriber {
	s := &subscriber{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct{ Type, Message, SubscribeURL string }
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		switch env.Type {
		case "SubscriptionConfirmation":
			resp, err := http.Get(env.SubscribeURL)
			if err == nil {
				resp.Body.Close()
				s.mu.Lock()
				s.confirmed = resp.StatusCode == 200
				s.mu.Unlock()
			}
		case "Notification":
			s.mu.Lock()
			s.messages = append(s.messages, env.Message)
			s.mu.Unlock()
		}
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *subscriber) notified() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.messages...)
}

// logFile is a delivered log file, read back.
type logFile struct {
	key     string
	region  string
	records []map[string]any
}

var logKey = regexp.MustCompile(`^(?:(.+)/)?AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{4})Z_([A-Za-z0-9]{16})\.json\.gz$`)

// readLogFiles reads every log file under prefix in a bucket, checking that
// each key has AWS's layout for account.
func readLogFiles(tb testing.TB, c *s3.Client, bucket, prefix, account string) []logFile {
	tb.Helper()
	ctx := context.Background()
	var out []logFile
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			m := logKey.FindStringSubmatch(key)
			if m == nil {
				tb.Fatalf("%s is not a CloudTrail log file key", key)
			}
			if m[2] != account || m[7] != account || m[3] != m[8] || m[4]+m[5]+m[6] != m[9] {
				tb.Fatalf("%s: account, region or date parts disagree", key)
			}
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				tb.Fatal(err)
			}
			raw, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				tb.Fatalf("%s is not gzip: %v", key, err)
			}
			js, err := io.ReadAll(zr)
			if err != nil {
				tb.Fatal(err)
			}
			var f struct{ Records []map[string]any }
			if err := json.Unmarshal(js, &f); err != nil || len(f.Records) == 0 {
				tb.Fatalf("%s: not {\"Records\":[...]}: %v", key, err)
			}
			out = append(out, logFile{key: key, region: m[3], records: f.Records})
		}
	}
	return out
}

// byID indexes delivered records by eventID, failing on duplicates.
func byID(tb testing.TB, files []logFile) map[string]map[string]any {
	tb.Helper()
	out := map[string]map[string]any{}
	for _, f := range files {
		for _, r := range f.records {
			id, _ := r["eventID"].(string)
			if _, dup := out[id]; dup {
				tb.Errorf("event %s delivered twice", id)
			}
			if r["awsRegion"] != f.region {
				tb.Errorf("event %s of %v in a file of %s", id, r["awsRegion"], f.region)
			}
			out[id] = r
		}
	}
	return out
}

func waitUntil(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventNames lists the (eventSource, eventName, bucket) of records.
func eventNames(recs map[string]map[string]any) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		k := fmt.Sprint(r["eventSource"], " ", r["eventName"])
		if rp, ok := r["requestParameters"].(map[string]any); ok && rp["bucketName"] != nil && r["eventCategory"] == "Data" {
			k += " " + fmt.Sprint(rp["bucketName"])
		}
		out[k]++
	}
	return out
}

// A trail, with the real SDK: created with a bucket and topic, logging,
// selectors; its log files land in the bucket with AWS's layout, hold what
// was done, data events only where selected, and each delivery is
// notified to the topic's HTTP subscriber.
func TestTrailDeliversToBucketAndTopic(t *testing.T) {
	ts := mustRunMain(t, func(m *Main) { m.DeliveryInterval = time.Second })
	ctx := context.Background()
	ct, s3c, snsc := ts.cloudtrail("us-east-1"), ts.s3("us-east-1"), ts.sns("us-east-1")
	mustBucket(t, s3c, "trail-logs", true)
	mustBucket(t, s3c, "watched-data", false)
	mustBucket(t, s3c, "other-data", false)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("trail-news")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: topic.TopicArn,
		AttributeName: aws.String("Policy"), AttributeValue: aws.String(topicPolicy(aws.ToString(topic.TopicArn)))}); err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t)
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.URL)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the subscription to be confirmed", func() bool { sub.mu.Lock(); defer sub.mu.Unlock(); return sub.confirmed })

	created, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("main"), S3BucketName: aws.String("trail-logs"),
		SnsTopicName: aws.String("trail-news"), TagsList: []types.Tag{{Key: aws.String("team"), Value: aws.String("sec")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:cloudtrail:us-east-1:" + testAccount + ":trail/main"
	if aws.ToString(created.TrailARN) != arn || aws.ToString(created.SnsTopicARN) != aws.ToString(topic.TopicArn) ||
		!aws.ToBool(created.IncludeGlobalServiceEvents) || aws.ToBool(created.IsMultiRegionTrail) {
		t.Fatalf("CreateTrail = %+v", created)
	}
	status, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("main")})
	if err != nil || aws.ToBool(status.IsLogging) {
		t.Fatalf("a new trail is not logging: %v %+v", err, status)
	}
	mustCreateHistoryChannel(t, ct, "before-logging") // not delivered: not logging yet
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	// Management events and S3 object calls; data events are not selected.
	put := func(bucket, key string) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	put("watched-data", "a.txt")
	if _, err := ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{}); err != nil {
		t.Fatal(err)
	}
	// Select: all management events, and data events of one bucket.
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String("main"), EventSelectors: []types.EventSelector{{
		ReadWriteType: types.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true),
		DataResources: []types.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3:::watched-data/"}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	put("watched-data", "b.txt")
	put("other-data", "c.txt")
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("watched-data"), Key: aws.String("b.txt")}); err != nil {
		t.Fatal(err)
	}
	lastCall, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
	if err != nil || len(lastCall.TrailList) != 1 {
		t.Fatalf("DescribeTrails: %v %+v", err, lastCall)
	}

	var recs map[string]map[string]any
	var files []logFile
	waitUntil(t, 20*time.Second, "the log files", func() bool {
		files = readLogFiles(t, s3c, "trail-logs", "AWSLogs/", testAccount)
		recs = byID(t, files)
		return eventNames(recs)["cloudtrail.amazonaws.com DescribeTrails"] == 1
	})
	got := eventNames(recs)
	want := map[string]int{
		"cloudtrail.amazonaws.com StartLogging":      1,
		"cloudtrail.amazonaws.com ListChannels":      1,
		"cloudtrail.amazonaws.com PutEventSelectors": 1,
		"s3.amazonaws.com PutObject watched-data":    1, // b.txt; a.txt was put before the bucket was selected
		"s3.amazonaws.com GetObject watched-data":    1,
		"s3.amazonaws.com PutObject other-data":      0,
		"cloudtrail.amazonaws.com DescribeTrails":    1,
		"cloudtrail.amazonaws.com CreateChannel":     0,
		"cloudtrail.amazonaws.com CreateTrail":       0,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q delivered %d times, want %d (delivered: %v)", k, got[k], n, got)
		}
	}
	for id, r := range recs {
		if r["recipientAccountId"] != testAccount || r["eventVersion"] == nil || r["eventTime"] == nil {
			t.Errorf("record %s: %v", id, r)
		}
		if r["eventCategory"] == "Data" {
			res := fmt.Sprint(r["resources"])
			if !strings.Contains(res, "AWS::S3::Object") || !strings.Contains(res, "arn:aws:s3:::watched-data/") {
				t.Errorf("data event resources = %s", res)
			}
		}
	}
	// One notification per delivery, naming exactly the delivered keys.
	var keys, noted []string
	for _, f := range files {
		keys = append(keys, f.key)
	}
	waitUntil(t, 10*time.Second, "the notifications", func() bool {
		noted = nil
		for _, m := range sub.notified() {
			var msg struct {
				S3Bucket    string
				S3ObjectKey []string
			}
			if err := json.Unmarshal([]byte(m), &msg); err != nil || msg.S3Bucket != "trail-logs" {
				t.Fatalf("notification %q", m)
			}
			noted = append(noted, msg.S3ObjectKey...)
		}
		return len(noted) >= len(keys)
	})
	sort.Strings(keys)
	sort.Strings(noted)
	if diff := cmp.Diff(keys, noted); diff != "" {
		t.Errorf("notified keys (-delivered +notified):\n%s", diff)
	}
	status, err = ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("main")})
	if err != nil || !aws.ToBool(status.IsLogging) || status.LatestDeliveryTime == nil || status.LatestDeliveryError != nil ||
		status.LatestNotificationTime == nil || status.StartLoggingTime == nil {
		t.Errorf("GetTrailStatus = %+v, %v", status, err)
	}

	// After StopLogging nothing more is delivered (but StopLogging itself).
	if _, err := ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String("main")}); err != nil {
		t.Fatal(err)
	}
	ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{})
	waitUntil(t, 20*time.Second, "StopLogging to be delivered", func() bool {
		return eventNames(byID(t, readLogFiles(t, s3c, "trail-logs", "AWSLogs/", testAccount)))["cloudtrail.amazonaws.com StopLogging"] == 1
	})
	time.Sleep(2500 * time.Millisecond)
	if n := eventNames(byID(t, readLogFiles(t, s3c, "trail-logs", "AWSLogs/", testAccount)))["cloudtrail.amazonaws.com ListChannels"]; n != 1 {
		t.Errorf("ListChannels delivered %d times; the call after StopLogging must not be", n)
	}
}

// Multi-region trails record every region and show as shadow trails.
func TestMultiRegionTrail(t *testing.T) {
	ts := mustRunMain(t, func(m *Main) { m.DeliveryInterval = time.Second })
	ctx := context.Background()
	east, west := ts.cloudtrail("us-east-1"), ts.cloudtrail("eu-west-1")
	mustBucket(t, ts.s3("us-east-1"), "multi-logs", true)
	if _, err := east.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("everywhere"), S3BucketName: aws.String("multi-logs"),
		IsMultiRegionTrail: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("everywhere")}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:cloudtrail:us-east-1:" + testAccount + ":trail/everywhere"
	// The shadow: seen by ARN from eu-west-1, listed with its home region.
	d, err := west.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
	if err != nil || len(d.TrailList) != 1 || aws.ToString(d.TrailList[0].HomeRegion) != "us-east-1" {
		t.Fatalf("DescribeTrails from eu-west-1: %v %+v", err, d)
	}
	if d, _ := west.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(false)}); len(d.TrailList) != 0 {
		t.Errorf("includeShadowTrails=false still lists %d trails", len(d.TrailList))
	}
	if _, err := west.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("everywhere")}); errorCode(err) != "TrailNotFoundException" {
		t.Errorf("GetTrail by name outside the home region: %v", err)
	}
	if _, err := west.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String(arn)}); errorCode(err) != "InvalidHomeRegionException" {
		t.Errorf("StopLogging outside the home region: %v", err)
	}
	if _, err := west.ListChannels(ctx, &cloudtrail.ListChannelsInput{}); err != nil {
		t.Fatal(err)
	}
	var files []logFile
	waitUntil(t, 20*time.Second, "eu-west-1's log file", func() bool {
		files = readLogFiles(t, ts.s3("us-east-1"), "multi-logs", "AWSLogs/", testAccount)
		for _, f := range files {
			if f.region == "eu-west-1" {
				return true
			}
		}
		return false
	})
	for _, f := range files {
		for _, r := range f.records {
			if r["eventName"] == "StopLogging" && f.region != "eu-west-1" {
				t.Errorf("StopLogging from eu-west-1 in a file of %s", f.region)
			}
		}
	}
}

// Validation: every trail error CreateTrail and friends raise, with AWS's
// error type and a message.
func TestTrailErrors(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	mustBucket(t, s3c, "good-logs", true)
	mustBucket(t, s3c, "no-policy", false)
	tests := []struct {
		name string
		in   cloudtrail.CreateTrailInput
		code string
	}{
		{"short name", cloudtrail.CreateTrailInput{Name: aws.String("ab"), S3BucketName: aws.String("good-logs")}, "InvalidTrailNameException"},
		{"bad characters", cloudtrail.CreateTrailInput{Name: aws.String("bad name"), S3BucketName: aws.String("good-logs")}, "InvalidTrailNameException"},
		{"adjacent specials", cloudtrail.CreateTrailInput{Name: aws.String("my-_trail"), S3BucketName: aws.String("good-logs")}, "InvalidTrailNameException"},
		{"IP-like name", cloudtrail.CreateTrailInput{Name: aws.String("192.168.5.4"), S3BucketName: aws.String("good-logs")}, "InvalidTrailNameException"},
		{"ends with a hyphen", cloudtrail.CreateTrailInput{Name: aws.String("trail-"), S3BucketName: aws.String("good-logs")}, "InvalidTrailNameException"},
		{"bad bucket name", cloudtrail.CreateTrailInput{Name: aws.String("t1a"), S3BucketName: aws.String("Bad_Bucket")}, "InvalidS3BucketNameException"},
		{"missing bucket", cloudtrail.CreateTrailInput{Name: aws.String("t1x"), S3BucketName: aws.String("nowhere-bucket")}, "S3BucketDoesNotExistException"},
		{"bucket without policy", cloudtrail.CreateTrailInput{Name: aws.String("t1y"), S3BucketName: aws.String("no-policy")}, "InsufficientS3BucketPolicyException"},
		{"policy for another prefix", cloudtrail.CreateTrailInput{Name: aws.String("t1z"), S3BucketName: aws.String("good-logs"), S3KeyPrefix: aws.String("elsewhere")}, "InsufficientS3BucketPolicyException"},
		{"long prefix", cloudtrail.CreateTrailInput{Name: aws.String("t2a"), S3BucketName: aws.String("good-logs"), S3KeyPrefix: aws.String(strings.Repeat("p", 201))}, "InvalidS3PrefixException"},
		{"missing topic", cloudtrail.CreateTrailInput{Name: aws.String("t2b"), S3BucketName: aws.String("good-logs"), SnsTopicName: aws.String("no-such-topic")}, "InsufficientSnsTopicPolicyException"},
		{"multi-region without global events", cloudtrail.CreateTrailInput{Name: aws.String("t2c"), S3BucketName: aws.String("good-logs"),
			IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(false)}, "InvalidParameterCombinationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ct.CreateTrail(ctx, &tt.in)
			if errorCode(err) != tt.code {
				t.Fatalf("CreateTrail = %v, want %s", err, tt.code)
			}
		})
	}
	// A topic whose policy does not let CloudTrail publish.
	snsc := ts.sns("us-east-1")
	if _, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("private")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("t3a"), S3BucketName: aws.String("good-logs"),
		SnsTopicName: aws.String("private")}); errorCode(err) != "InsufficientSnsTopicPolicyException" {
		t.Errorf("topic without CloudTrail's statement: %v", err)
	}
	// Duplicates and the five-trail limit.
	for i := range 5 {
		if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(fmt.Sprint("trail", i)), S3BucketName: aws.String("good-logs")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("trail0"), S3BucketName: aws.String("good-logs")}); errorCode(err) != "TrailAlreadyExistsException" {
		t.Errorf("duplicate trail: %v", err)
	}
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("trail5"), S3BucketName: aws.String("good-logs")}); errorCode(err) != "MaximumNumberOfTrailsExceededException" {
		t.Errorf("sixth trail: %v", err)
	}
	// Unknown trails, by name and ARN.
	for _, ref := range []string{"missing", "arn:aws:cloudtrail:us-east-1:" + testAccount + ":trail/missing"} {
		if _, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String(ref)}); errorCode(err) != "TrailNotFoundException" {
			t.Errorf("GetTrail %s: %v", ref, err)
		}
		if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(ref)}); errorCode(err) != "TrailNotFoundException" {
			t.Errorf("StartLogging %s: %v", ref, err)
		}
	}
	if _, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("arn:aws:cloudtrail:us-east-1:x:trail/y")}); errorCode(err) != "CloudTrailARNInvalidException" {
		t.Errorf("GetTrail with a malformed ARN: %v", err)
	}
	// Selectors: basic and advanced never both; invalid values named.
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String("trail0"),
		EventSelectors:         []types.EventSelector{{ReadWriteType: types.ReadWriteTypeAll}},
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Management"}}}}},
	}); errorCode(err) != "InvalidEventSelectorsException" {
		t.Errorf("basic and advanced together: %v", err)
	}
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String("trail0"), EventSelectors: []types.EventSelector{{
		DataResources: []types.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3:::*"}}}}}}); errorCode(err) != "InvalidEventSelectorsException" {
		t.Errorf("bad data resource: %v", err)
	}
	adv := []types.AdvancedEventSelector{{Name: aws.String("writes"), FieldSelectors: []types.AdvancedFieldSelector{
		{Field: aws.String("eventCategory"), Equals: []string{"Management"}}, {Field: aws.String("readOnly"), Equals: []string{"false"}}}}}
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String("trail0"), AdvancedEventSelectors: adv}); err != nil {
		t.Fatal(err)
	}
	sel, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("trail0")})
	if err != nil || len(sel.AdvancedEventSelectors) != 1 || len(sel.EventSelectors) != 0 || aws.ToString(sel.AdvancedEventSelectors[0].Name) != "writes" {
		t.Errorf("GetEventSelectors = %+v, %v", sel, err)
	}
	def, err := ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("trail1")})
	if err != nil || len(def.EventSelectors) != 1 || def.EventSelectors[0].ReadWriteType != types.ReadWriteTypeAll || !aws.ToBool(def.EventSelectors[0].IncludeManagementEvents) {
		t.Errorf("default selectors = %+v, %v", def, err)
	}
	g, err := ct.GetTrail(ctx, &cloudtrail.GetTrailInput{Name: aws.String("trail0")})
	if err != nil || !aws.ToBool(g.Trail.HasCustomEventSelectors) {
		t.Errorf("GetTrail after PutEventSelectors: %+v %v", g, err)
	}
	// Tags on trails.
	tarn := "arn:aws:cloudtrail:us-east-1:" + testAccount + ":trail/trail0"
	if _, err := ct.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: aws.String(tarn), TagsList: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := ct.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{tarn}})
	if err != nil || len(tags.ResourceTagList) != 1 || len(tags.ResourceTagList[0].TagsList) != 1 {
		t.Errorf("ListTags = %+v, %v", tags, err)
	}
	// Delete, then the trail is gone everywhere.
	if _, err := ct.DeleteTrail(ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(tarn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("trail0")}); errorCode(err) != "TrailNotFoundException" {
		t.Errorf("GetTrailStatus after DeleteTrail: %v", err)
	}
	l, err := ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	if err != nil || len(l.Trails) != 4 {
		t.Errorf("ListTrails after delete: %v, %d trails", err, len(l.Trails))
	}
	_ = opentrail.MaxTrails
}

// TestTrailNotifiesExternalSNS configures another opentrail's SNS as the
// SNS backend, as one would configure AWS SNS: CreateTrail checks the topic
// there, and each delivered file is announced through it.
func TestTrailNotifiesExternalSNS(t *testing.T) {
	ctx := context.Background()
	ext := mustRunMain(t)
	extSNS := ext.sns("us-east-1")
	topic, err := extSNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("outside")})
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t)
	if _, err := extSNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.URL)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the subscription to be confirmed", func() bool { sub.mu.Lock(); defer sub.mu.Unlock(); return sub.confirmed })

	ts := mustRunMain(t, func(m *Main) {
		m.SNSBackend, m.SNSEndpoint, m.DeliveryInterval = "sns", ext.URL, time.Second
		inner := m.getenv
		m.getenv = func(k string) string {
			switch k {
			case "OPENTRAIL_SNS_ACCESS_KEY_ID":
				return ext.KeyID
			case "OPENTRAIL_SNS_SECRET_ACCESS_KEY":
				return ext.Secret
			}
			return inner(k)
		}
	})
	ct := ts.cloudtrail("us-east-1")
	mustBucket(t, ts.s3("us-east-1"), "ext-sns-logs", true)
	// The topic's default policy does not let CloudTrail publish.
	_, err = ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("ext-trail"), S3BucketName: aws.String("ext-sns-logs"), SnsTopicName: aws.String("outside")})
	var insufficient *types.InsufficientSnsTopicPolicyException
	if !errors.As(err, &insufficient) {
		t.Fatalf("CreateTrail with a topic CloudTrail may not publish to: %v, want InsufficientSnsTopicPolicyException", err)
	}
	_, err = ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("ext-trail"), S3BucketName: aws.String("ext-sns-logs"), SnsTopicName: aws.String("missing")})
	if !errors.As(err, &insufficient) {
		t.Fatalf("CreateTrail with a missing topic: %v, want InsufficientSnsTopicPolicyException", err)
	}
	if _, err := extSNS.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: topic.TopicArn,
		AttributeName: aws.String("Policy"), AttributeValue: aws.String(topicPolicy(*topic.TopicArn))}); err != nil {
		t.Fatal(err)
	}
	out, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String("ext-trail"), S3BucketName: aws.String("ext-sns-logs"), SnsTopicName: aws.String("outside")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.SnsTopicARN) != aws.ToString(topic.TopicArn) {
		t.Errorf("SnsTopicARN = %s, want %s", aws.ToString(out.SnsTopicARN), aws.ToString(topic.TopicArn))
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String("ext-trail")}); err != nil {
		t.Fatal(err)
	}
	var files []logFile
	waitUntil(t, 20*time.Second, "a log file and its notification", func() bool {
		files = readLogFiles(t, ts.s3("us-east-1"), "ext-sns-logs", "", ts.Account)
		return len(files) > 0 && len(sub.notified()) >= len(files)
	})
	var msg struct {
		S3Bucket    string   `json:"s3Bucket"`
		S3ObjectKey []string `json:"s3ObjectKey"`
	}
	if err := json.Unmarshal([]byte(sub.notified()[0]), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.S3Bucket != "ext-sns-logs" || len(msg.S3ObjectKey) != 1 || msg.S3ObjectKey[0] != files[0].key {
		t.Errorf("notification %+v, want bucket ext-sns-logs and key %s", msg, files[0].key)
	}
	st, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String("ext-trail")})
	if err != nil {
		t.Fatal(err)
	}
	if st.LatestNotificationError != nil || st.LatestNotificationTime == nil {
		t.Errorf("GetTrailStatus: notification error %v, time %v", aws.ToString(st.LatestNotificationError), st.LatestNotificationTime)
	}
}
