package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail/api"
)

// The real AWS CLI against a spawned `opentrail serve`.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns the binary")
	}
	srv := spawn(t, t.TempDir())
	ts := srv.server()
	var ch struct{ ChannelArn string }
	ts.awsCLI(t, "us-east-1", &ch, false, "cloudtrail", "create-channel", "--name", "cli-app", "--source", "Custom",
		"--destinations", "Type=AWS_SERVICE,Location=cloudtrail.amazonaws.com")
	if !strings.HasPrefix(ch.ChannelArn, "arn:aws:cloudtrail:us-east-1:"+testAccount+":channel/") {
		t.Fatalf("create-channel ChannelArn = %q", ch.ChannelArn)
	}
	events, _ := json.Marshal([]map[string]string{
		{"id": "a1", "eventData": appEvent("dave", "Deploy", time.Now(), 1)},
		{"id": "a2", "eventData": appEvent("dave", "Rollback", time.Now(), 2)},
		{"id": "bad", "eventData": `{"version":"1.0"}`},
	})
	var put struct {
		Successful []struct{ ID, EventID string }
		Failed     []struct{ ID, ErrorCode, ErrorMessage string }
	}
	ts.awsCLI(t, "us-east-1", &put, false, "cloudtrail-data", "put-audit-events", "--channel-arn", ch.ChannelArn, "--audit-events", string(events))
	if len(put.Successful) != 2 || len(put.Failed) != 1 || put.Failed[0].ID != "bad" || put.Failed[0].ErrorCode != "FieldNotFound" {
		t.Fatalf("put-audit-events = %+v", put)
	}
	var look struct {
		Events []struct {
			EventId, EventName, Username, EventSource, CloudTrailEvent string
			Resources                                                  []any
		}
	}
	ts.awsCLI(t, "us-east-1", &look, false, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=Username,AttributeValue=dave")
	var names []string
	for _, e := range look.Events {
		names = append(names, e.EventName)
		if e.Username != "dave" || e.EventSource != "app.example.com" || !json.Valid([]byte(e.CloudTrailEvent)) {
			t.Errorf("event %+v", e)
		}
	}
	if diff := cmp.Diff([]string{"Rollback", "Deploy"}, names); diff != "" && !cmp.Equal([]string{"Deploy", "Rollback"}, names) {
		t.Errorf("lookup-events by Username (-want +got):\n%s", diff)
	}
	ts.awsCLI(t, "us-east-1", &look, false, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventId,AttributeValue="+put.Successful[1].EventID)
	if len(look.Events) != 1 || look.Events[0].EventId != put.Successful[1].EventID || look.Events[0].EventName != "Rollback" {
		t.Errorf("lookup-events by EventId = %+v", look.Events)
	}
	// The CLI's own calls are in the history, with its user agent.
	ts.awsCLI(t, "us-east-1", &look, false, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=EventName,AttributeValue=CreateChannel")
	if len(look.Events) != 1 || !strings.Contains(look.Events[0].CloudTrailEvent, "aws-cli/") || len(look.Events[0].Resources) != 1 {
		t.Errorf("CreateChannel event = %+v", look.Events)
	}
	// Errors come back as the CLI shows AWS's.
	stderr := ts.awsCLI(t, "us-east-1", nil, true, "cloudtrail", "lookup-events", "--max-results", "51")
	if !strings.Contains(stderr, "InvalidMaxResultsException") {
		t.Errorf("lookup-events --max-results 51: %s", stderr)
	}
	stderr = ts.awsCLI(t, "us-east-1", nil, true, "cloudtrail", "get-trail", "--name", "no-such-trail")
	if !strings.Contains(stderr, "TrailNotFoundException") || !strings.Contains(stderr, "Unknown trail: arn:aws:cloudtrail:us-east-1:"+testAccount+":trail/no-such-trail") {
		t.Errorf("get-trail: %s", stderr)
	}
	srv.stop(t)
}

// `opentrail events lookup` and `events download` read the same history
// as LookupEvents.
func TestEventsCommands(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, data := ts.cloudtrail("us-east-1"), ts.cloudtraildata("us-east-1")
	chARN := mustCreateHistoryChannel(t, ct, "download")
	putEvents(t, data, chARN, 0, 60, func(i int) (string, string) {
		if i%2 == 0 {
			return "erin", "=cmd|' /C calc'!A0"
		}
		return "frank", "Sync"
	})
	end := time.Now().Truncate(time.Second)
	time.Sleep(time.Until(end.Add(time.Second + 10*time.Millisecond)))
	want := lookupAll(t, ct, &cloudtrail.LookupEventsInput{EndTime: aws.Time(end)})
	if len(want) != 61 {
		t.Fatalf("%d events, want 61", len(want))
	}

	env := []string{"AWS_ACCESS_KEY_ID=" + ts.KeyID, "AWS_SECRET_ACCESS_KEY=" + ts.Secret, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	cli := func(args ...string) (string, string) {
		t.Helper()
		for _, e := range env {
			k, v, _ := strings.Cut(e, "=")
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		base := []string{"--endpoint-url", ts.URL, "--region", "us-east-1", "--end-time", end.Format(time.RFC3339)}
		if err := run(ctx, append(append(args[:2:2], base...), args[2:]...), &stdout, &stderr); err != nil {
			t.Fatalf("opentrail %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	out, _ := cli("events", "lookup", "--output", "json")
	var got struct{ Events []struct{ EventId string } }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != len(want) || got.Events[0].EventId != aws.ToString(want[0].EventId) || got.Events[60].EventId != aws.ToString(want[60].EventId) {
		t.Errorf("events lookup returned %d events", len(got.Events))
	}
	out, _ = cli("events", "lookup", "--attr", "Username=erin", "--attr", "EventSource=app.example.com")
	if lines := strings.Count(out, "\n"); lines != 31 { // header and 30 events
		t.Errorf("events lookup with two attributes printed %d lines:\n%s", lines, out)
	}

	// CSV: the console's columns, one row per event, in LookupEvents' order.
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "events.csv")
	cli("events", "download", "--format", "csv", "--output-file", csvPath)
	f, _ := os.ReadFile(csvPath)
	rows, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(api.CSVHeader, rows[0]); diff != "" {
		t.Errorf("CSV header (-want +got):\n%s", diff)
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("CSV has %d rows, want %d", len(rows), len(want)+1)
	}
	for i, e := range want {
		row := rows[i+1]
		if row[0] != aws.ToString(e.EventId) || row[1] != e.EventTime.UTC().Format(time.RFC3339) ||
			row[2] != aws.ToString(e.Username) || strings.TrimPrefix(row[3], "'") != aws.ToString(e.EventName) ||
			row[6] != aws.ToString(e.AccessKeyId) || row[7] != "us-east-1" || row[10] != aws.ToString(e.EventSource) ||
			row[11] != aws.ToString(e.ReadOnly) || row[13] != aws.ToString(e.CloudTrailEvent) {
			t.Errorf("CSV row %d = %q\nLookupEvents: %+v", i+1, row[:12], e)
		}
		if strings.HasPrefix(row[3], "=") {
			t.Errorf("CSV row %d starts a cell with '=': a spreadsheet would run it", i+1)
		}
	}

	// JSON: an array of the full records.
	out, _ = cli("events", "download", "--format", "json", "--attr", "Username=frank")
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("JSON download is not a JSON array: %v", err)
	}
	var wantFrank []string
	for _, e := range want {
		if aws.ToString(e.Username) == "frank" {
			wantFrank = append(wantFrank, aws.ToString(e.EventId))
		}
	}
	var gotFrank []string
	for _, r := range recs {
		gotFrank = append(gotFrank, fmt.Sprint(r["eventID"]))
	}
	if diff := cmp.Diff(wantFrank, gotFrank); diff != "" {
		t.Errorf("JSON download event IDs (-want +got):\n%s", diff)
	}
}

// The trail workflow with the real AWS CLI against a spawned server: a
// bucket and a topic, a trail with data-event selectors, logging; then
// `aws s3 ls --recursive` finds the log files and `aws s3 cp` fetches them,
// and they hold what was done.
func TestAWSCLITrail(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns the binary")
	}
	srv := spawn(t, t.TempDir(), "--delivery-interval", "1s")
	ts := srv.server()
	cli := func(out any, args ...string) string { return ts.awsCLI(t, "us-east-1", out, false, args...) }
	cli(nil, "s3api", "create-bucket", "--bucket", "cli-logs")
	cli(nil, "s3api", "put-bucket-policy", "--bucket", "cli-logs", "--policy", trailBucketPolicy("cli-logs", testAccount))
	var topic struct{ TopicArn string }
	cli(&topic, "sns", "create-topic", "--name", "cli-topic")
	cli(nil, "sns", "set-topic-attributes", "--topic-arn", topic.TopicArn, "--attribute-name", "Policy", "--attribute-value", topicPolicy(topic.TopicArn))
	var trail struct{ TrailARN, SnsTopicARN string }
	cli(&trail, "cloudtrail", "create-trail", "--name", "cli-trail", "--s3-bucket-name", "cli-logs", "--sns-topic-name", "cli-topic")
	if trail.SnsTopicARN != topic.TopicArn {
		t.Fatalf("create-trail: %+v", trail)
	}
	cli(nil, "cloudtrail", "put-event-selectors", "--trail-name", "cli-trail", "--event-selectors",
		`[{"ReadWriteType":"All","IncludeManagementEvents":true,"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3:::cli-data/"]}]}]`)
	cli(nil, "cloudtrail", "start-logging", "--name", "cli-trail")
	dir := t.TempDir()
	local := filepath.Join(dir, "hello.txt")
	os.WriteFile(local, []byte("hello, trail\n"), 0o600)
	cli(nil, "s3api", "create-bucket", "--bucket", "cli-data")
	cli(nil, "s3api", "create-bucket", "--bucket", "cli-other")
	cli(nil, "s3", "cp", local, "s3://cli-data/hello.txt")
	cli(nil, "s3", "cp", local, "s3://cli-other/hello.txt")
	if got := cli(nil, "s3", "cp", "s3://cli-data/hello.txt", "-"); got != "hello, trail\n" {
		t.Errorf("s3 cp down = %q", got)
	}
	var status struct{ IsLogging bool }
	cli(&status, "cloudtrail", "get-trail-status", "--name", "cli-trail")
	if !status.IsLogging {
		t.Errorf("get-trail-status: not logging")
	}

	var keys []string
	var recs []map[string]any
	waitUntil(t, 30*time.Second, "log files with the object calls", func() bool {
		keys, recs = nil, nil
		for _, line := range strings.Split(strings.TrimSpace(cli(nil, "s3", "ls", "--recursive", "s3://cli-logs/")), "\n") {
			f := strings.Fields(line)
			if len(f) == 4 {
				keys = append(keys, f[3])
			}
		}
		for _, k := range keys {
			out := filepath.Join(dir, filepath.Base(k))
			cli(nil, "s3", "cp", "s3://cli-logs/"+k, out)
			raw, _ := os.ReadFile(out)
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			js, _ := io.ReadAll(zr)
			var f struct{ Records []map[string]any }
			if err := json.Unmarshal(js, &f); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			recs = append(recs, f.Records...)
		}
		n := 0
		for _, r := range recs {
			if r["eventName"] == "GetObject" {
				n++
			}
		}
		return n > 0
	})
	for _, k := range keys {
		if !logKey.MatchString(k) {
			t.Errorf("%s is not a CloudTrail log file key", k)
		}
	}
	seen := map[string]int{}
	for _, r := range recs {
		name := fmt.Sprint(r["eventName"])
		if rp, ok := r["requestParameters"].(map[string]any); ok && r["eventCategory"] == "Data" {
			name += " " + fmt.Sprint(rp["bucketName"])
			if !strings.HasPrefix(fmt.Sprint(r["userAgent"]), "aws-cli/") {
				t.Errorf("data event without the CLI's user agent: %v", r["userAgent"])
			}
		}
		seen[name]++
	}
	for _, want := range []string{"StartLogging", "PutObject cli-data", "GetObject cli-data", "CreateBucket"} {
		if seen[want] == 0 {
			t.Errorf("no %q in the log files (found %v)", want, seen)
		}
	}
	if seen["PutObject cli-other"] != 0 {
		t.Errorf("data events of an unselected bucket were delivered")
	}
	srv.stop(t)
}
