package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/google/go-cmp/cmp"
	"github.com/opentrail/opentrail"
)

const realLogs = "../../testdata/cloudtrail"

// truthRecords reads every record of the real logs with plain encoding/json,
// independently of package ingest: files wrapped in {"Records":[...]},
// JSON arrays, JSON lines of LookupEvents output, gzipped or not.
func truthRecords(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	err := filepath.Walk(realLogs, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		name := info.Name()
		if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".jsonl") && !strings.HasSuffix(name, ".gz") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		var recs []map[string]any
		var wrapped struct{ Records []map[string]any }
		switch {
		case strings.HasSuffix(name, ".jsonl"):
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line struct{ CloudTrailEvent string }
				json.Unmarshal(sc.Bytes(), &line)
				var rec map[string]any
				json.Unmarshal([]byte(line.CloudTrailEvent), &rec)
				recs = append(recs, rec)
			}
		case json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil:
			recs = wrapped.Records
		default:
			json.Unmarshal(b, &recs) // the malformed file yields nothing
		}
		out = append(out, recs...)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Every real log file goes through `opentrail ingest`; every valid event is
// then found by LookupEvents with the same record.
func TestIngestRealLogs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const retention = "200000h" // the logs are from 2013-2024
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"ingest", "--data-dir", dir, "--account-id", testAccount, "--history-retention", retention, "--quiet", realLogs}, &stdout, &stderr)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("ingest: %v (want exit status 1: some records are malformed)\n%s\n%s", err, stdout.String(), stderr.String())
	}
	// The malformed inputs are named with their position.
	for _, want := range []string{
		"SerializerTestFileBadJsonFormat.json: byte ",
		"SerializerTestFileMissField.json: record 4",
		`eventTime "ThisIsAWrongEventTime" is not a time`,
		"SerializerAllFieldsNull.json: record 1",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("ingest problems do not mention %q:\n%s", want, stderr.String())
		}
	}

	// The truth: valid records, by eventID (the two files of trailscraper
	// share events: each must be listed once).
	type key struct{ region, id string }
	want := map[key]map[string]any{}
	regions := map[string]bool{}
	var noID []map[string]any
	for _, rec := range truthRecords(t) {
		region, _ := rec["awsRegion"].(string)
		tm, _ := rec["eventTime"].(string)
		if _, err := time.Parse(time.RFC3339, tm); err != nil || !opentrail.ValidRegionName(region) {
			continue
		}
		if c, _ := rec["eventCategory"].(string); c != "" && c != "Management" && c != "Insight" {
			continue
		}
		regions[region] = true
		if id, _ := rec["eventID"].(string); id != "" {
			want[key{region, id}] = rec
		} else {
			noID = append(noID, rec)
		}
	}
	if len(want) < 600 {
		t.Fatalf("only %d records with IDs in the truth", len(want))
	}
	var regionList []string
	for r := range regions {
		regionList = append(regionList, r)
	}
	ts := mustRunMain(t, func(m *Main) {
		m.DataDir = dir
		m.HistoryRetention, _ = time.ParseDuration(retention)
		m.Regions = strings.Join(regionList, ",")
	})
	clients := map[string]*cloudtrail.Client{}
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for k, rec := range want {
		ct := clients[k.region]
		if ct == nil {
			ct = ts.cloudtrail(k.region)
			clients[k.region] = ct
		}
		insight := rec["eventType"] == "AwsCloudTrailInsight"
		in := &cloudtrail.LookupEventsInput{StartTime: aws.Time(old), LookupAttributes: attr(types.LookupAttributeKeyEventId, k.id)}
		if insight {
			in.EventCategory = types.EventCategoryInsight
		}
		out, err := ct.LookupEvents(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != 1 {
			t.Errorf("%s %s: %d events, want 1", k.region, k.id, len(out.Events))
			continue
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(out.Events[0].CloudTrailEvent)), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("%s %s: record changed (-file +history):\n%s", k.region, k.id, diff)
		}
		e := out.Events[0]
		if name, _ := rec["eventName"].(string); aws.ToString(e.EventName) != name {
			t.Errorf("%s: EventName %q, record says %q", k.id, aws.ToString(e.EventName), name)
		}
		if tm, _ := rec["eventTime"].(string); e.EventTime.UTC().Format(time.RFC3339) != tm {
			t.Errorf("%s: EventTime %v, record says %s", k.id, e.EventTime, tm)
		}
	}
	// Records without an eventID are found by name and time.
	for _, rec := range noID {
		region := rec["awsRegion"].(string)
		tm, _ := time.Parse(time.RFC3339, rec["eventTime"].(string))
		name, _ := rec["eventName"].(string)
		out, err := ts.cloudtrail(region).LookupEvents(ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(tm), EndTime: aws.Time(tm),
			LookupAttributes: attr(types.LookupAttributeKeyEventName, name)})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range out.Events {
			var got map[string]any
			json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &got)
			found = found || cmp.Equal(rec, got)
		}
		if !found {
			t.Errorf("record without eventID not found: %v", rec)
		}
	}

	// Loading the same files again adds nothing to the history.
	logsEnd := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // after every log, before the test's own calls
	before := len(lookupAll(t, ts.cloudtrail("us-east-1"), &cloudtrail.LookupEventsInput{StartTime: aws.Time(old), EndTime: aws.Time(logsEnd)}))
	err = run(ctx, []string{"ingest", "--data-dir", dir, "--account-id", testAccount, "--history-retention", retention, "--quiet", realLogs}, io.Discard, io.Discard)
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("second ingest: %v", err)
	}
	after := len(lookupAll(t, ts.cloudtrail("us-east-1"), &cloudtrail.LookupEventsInput{StartTime: aws.Time(old), EndTime: aws.Time(logsEnd)}))
	if after != before {
		t.Errorf("us-east-1 history had %d events, %d after ingesting the same logs again", before, after)
	}
}

// With the default 90-day retention, old logs are reported, not stored.
func TestIngestTooOld(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"ingest", "--data-dir", dir, "--account-id", testAccount, "--quiet",
		filepath.Join(realLogs, "flosell_trailscraper")}, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "ingested 0 of 5 records") || !strings.Contains(stdout.String(), "5 older than") {
		t.Errorf("summary: %s", stdout.String())
	}
}
