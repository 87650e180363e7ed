package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtraildata"
	dtypes "github.com/aws/aws-sdk-go-v2/service/cloudtraildata/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

// mustStore creates an event data store and returns its ARN and ID.
func mustStore(tb testing.TB, ct *cloudtrail.Client, in *cloudtrail.CreateEventDataStoreInput) (arn, id string) {
	tb.Helper()
	out, err := ct.CreateEventDataStore(context.Background(), in)
	if err != nil {
		tb.Fatalf("CreateEventDataStore %s: %v", aws.ToString(in.Name), err)
	}
	arn = aws.ToString(out.EventDataStoreArn)
	return arn, arn[strings.LastIndex(arn, "/")+1:]
}

// runQuery starts a query, waits for it to end and returns its final
// description and all its rows (paged with pageSize).
func runQuery(tb testing.TB, ct *cloudtrail.Client, stmt string, pageSize int32) (*cloudtrail.DescribeQueryOutput, [][]map[string]string) {
	tb.Helper()
	ctx := context.Background()
	start, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt)})
	if err != nil {
		tb.Fatalf("StartQuery %q: %v", stmt, err)
	}
	d := waitQuery(tb, ct, aws.ToString(start.QueryId))
	if d.QueryStatus != types.QueryStatusFinished {
		tb.Fatalf("query %q ended %s: %s", stmt, d.QueryStatus, aws.ToString(d.ErrorMessage))
	}
	var rows [][]map[string]string
	in := &cloudtrail.GetQueryResultsInput{QueryId: start.QueryId, MaxQueryResults: aws.Int32(pageSize)}
	for {
		page, err := ct.GetQueryResults(ctx, in)
		if err != nil {
			tb.Fatal(err)
		}
		if int32(len(page.QueryResultRows)) > pageSize {
			tb.Fatalf("a page has %d rows, more than %d", len(page.QueryResultRows), pageSize)
		}
		rows = append(rows, page.QueryResultRows...)
		if page.NextToken == nil {
			if got := int(aws.ToInt32(page.QueryStatistics.TotalResultsCount)); got != len(rows) {
				tb.Errorf("TotalResultsCount %d, read %d rows", got, len(rows))
			}
			return d, rows
		}
		in.NextToken = page.NextToken
	}
}

func waitQuery(tb testing.TB, ct *cloudtrail.Client, id string) *cloudtrail.DescribeQueryOutput {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := ct.DescribeQuery(context.Background(), &cloudtrail.DescribeQueryInput{QueryId: aws.String(id)})
		if err != nil {
			tb.Fatal(err)
		}
		if d.QueryStatus != types.QueryStatusQueued && d.QueryStatus != types.QueryStatusRunning {
			return d
		}
		if time.Now().After(deadline) {
			tb.Fatalf("query %s still %s", id, d.QueryStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counts runs a "name, count" query and returns the counts by name.
func counts(tb testing.TB, ct *cloudtrail.Client, stmt string) map[string]int {
	tb.Helper()
	return pagedCounts(tb, ct, stmt, 1000)
}

// pagedCounts is counts reading the results pageSize rows at a time.
func pagedCounts(tb testing.TB, ct *cloudtrail.Client, stmt string, pageSize int32) map[string]int {
	tb.Helper()
	_, rows := runQuery(tb, ct, stmt, pageSize)
	out := map[string]int{}
	for _, r := range rows {
		if len(r) != 2 {
			tb.Fatalf("%s: row %v has not 2 columns", stmt, r)
		}
		var name string
		for _, v := range r[0] {
			name = v
		}
		for _, v := range r[1] {
			n, err := strconv.Atoi(v)
			if err != nil {
				tb.Fatalf("%s: count %q: %v", stmt, v, err)
			}
			out[name] = n
		}
	}
	return out
}

// lookupCounts counts event history's events of each name.
func lookupCounts(tb testing.TB, ct *cloudtrail.Client, names ...string) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for _, n := range names {
		if c := len(lookupAll(tb, ct, &cloudtrail.LookupEventsInput{LookupAttributes: attr(types.LookupAttributeKeyEventName, n)})); c > 0 {
			out[n] = c
		}
	}
	return out
}

func TestLakeEventDataStores(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")

	created, err := ct.CreateEventDataStore(ctx, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.EventDataStoreArn)
	id := arn[strings.LastIndex(arn, "/")+1:]
	if !strings.HasPrefix(arn, "arn:aws:cloudtrail:us-east-1:"+testAccount+":eventdatastore/") || len(id) != 36 {
		t.Fatalf("ARN %s", arn)
	}
	if created.Status != types.EventDataStoreStatusCreated || !aws.ToBool(created.TerminationProtectionEnabled) ||
		!aws.ToBool(created.MultiRegionEnabled) || aws.ToBool(created.OrganizationEnabled) || aws.ToInt32(created.RetentionPeriod) != 366 ||
		created.BillingMode != types.BillingModeExtendableRetentionPricing || len(created.AdvancedEventSelectors) != 1 {
		t.Errorf("CreateEventDataStore defaults: %+v", created)
	}

	// Validation and errors.
	for _, c := range []struct {
		in   *cloudtrail.CreateEventDataStoreInput
		code string
	}{
		{&cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")}, "EventDataStoreAlreadyExistsException"},
		{&cloudtrail.CreateEventDataStoreInput{Name: aws.String("fixed"), BillingMode: types.BillingModeFixedRetentionPricing, RetentionPeriod: aws.Int32(3000)}, "InvalidParameterException"},
		{&cloudtrail.CreateEventDataStoreInput{Name: aws.String("short"), RetentionPeriod: aws.Int32(3)}, "InvalidParameterException"},
		{&cloudtrail.CreateEventDataStoreInput{Name: aws.String("kms"), KmsKeyId: aws.String("alias/x")}, "UnsupportedOperationException"},
		{&cloudtrail.CreateEventDataStoreInput{Name: aws.String("sel"), AdvancedEventSelectors: []types.AdvancedEventSelector{{
			FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Nope"}}}}}}, "InvalidEventSelectorsException"},
	} {
		if _, err := ct.CreateEventDataStore(ctx, c.in); errorCode(err) != c.code {
			t.Errorf("CreateEventDataStore %s: %v, want %s", aws.ToString(c.in.Name), err, c.code)
		}
	}
	if _, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String("00000000-0000-0000-0000-000000000000")}); errorCode(err) != "EventDataStoreNotFoundException" {
		t.Errorf("GetEventDataStore of a missing store: %v", err)
	}
	if _, err := ts.cloudtrail("eu-west-1").GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(arn)}); errorCode(err) != "EventDataStoreNotFoundException" {
		t.Errorf("GetEventDataStore from another region: %v", err)
	}
	got, err := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(id)})
	if err != nil || aws.ToString(got.EventDataStoreArn) != arn || got.Status != types.EventDataStoreStatusEnabled {
		t.Fatalf("GetEventDataStore by ID: %v %+v", err, got)
	}

	// Activity, then the same counts from the store and from event history.
	names := []string{"ListTrails", "DescribeTrails", "ListChannels"}
	for i := range 7 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
		if i%2 == 0 {
			ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{})
		}
		if i%3 == 0 {
			ct.ListChannels(ctx, &cloudtrail.ListChannelsInput{})
		}
	}
	want := lookupCounts(t, ct, names...)
	if !cmp.Equal(want, map[string]int{"ListTrails": 7, "DescribeTrails": 4, "ListChannels": 3}) {
		t.Fatalf("event history counts %v", want)
	}
	stmt := fmt.Sprintf(`SELECT eventName, count(*) AS n FROM %s WHERE eventName IN ('ListTrails', 'DescribeTrails', 'ListChannels') GROUP BY eventName ORDER BY eventName`, id)
	var gotCounts map[string]int
	waitUntil(t, 15*time.Second, "the store holds the calls", func() bool {
		gotCounts = counts(t, ct, stmt)
		return cmp.Equal(gotCounts, want)
	})
	// The ARN works as the table name too, and rows come in AWS's shape.
	d, rows := runQuery(t, ct, fmt.Sprintf(`SELECT eventName, eventTime, userIdentity.accountid AS acct FROM %s WHERE eventName = 'ListChannels' ORDER BY eventTime`, arn), 1)
	if len(rows) != 3 || aws.ToInt64(d.QueryStatistics.EventsMatched) != 3 || aws.ToInt64(d.QueryStatistics.EventsScanned) == 0 {
		t.Fatalf("rows %v, statistics %+v", rows, d.QueryStatistics)
	}
	if r := rows[0]; len(r) != 3 || r[0]["eventName"] != "ListChannels" || len(r[1]["eventTime"]) != len("2006-01-02 15:04:05.000") || r[2]["acct"] != testAccount {
		t.Errorf("row %v", r)
	}
	lq, err := ct.ListQueries(ctx, &cloudtrail.ListQueriesInput{EventDataStore: aws.String(arn)})
	if err != nil || len(lq.Queries) < 2 {
		t.Fatalf("ListQueries: %v %+v", err, lq)
	}
	if lq, err := ct.ListQueries(ctx, &cloudtrail.ListQueriesInput{EventDataStore: aws.String(arn), QueryStatus: types.QueryStatusFailed}); err != nil || len(lq.Queries) != 0 {
		t.Errorf("ListQueries of failed queries: %v %+v", err, lq)
	}

	// Statements the lake refuses.
	other, _ := mustStore(t, ts.cloudtrail("eu-west-1"), &cloudtrail.CreateEventDataStoreInput{Name: aws.String("elsewhere")})
	for _, bad := range []string{
		"SELEC eventName FROM " + id,
		"DROP TABLE " + id,
		"SELECT * FROM read_csv('/etc/passwd')",
		"COPY (SELECT 1) TO '/tmp/x.csv'",
		"ATTACH '/tmp/x.db' AS x",
		"SELECT 1; SELECT 2",
		"SELECT eventName FROM 00000000-0000-0000-0000-000000000000",
		"SELECT eventName FROM " + other,
		"SELECT nosuchcolumn FROM " + id,
	} {
		_, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(bad)})
		if errorCode(err) != "InvalidQueryStatementException" {
			t.Errorf("StartQuery %q: %v, want InvalidQueryStatementException", bad, err)
		}
	}
	if _, err := ct.DescribeQuery(ctx, &cloudtrail.DescribeQueryInput{QueryId: aws.String("00000000-0000-0000-0000-000000000000")}); errorCode(err) != "QueryIdNotFoundException" {
		t.Errorf("DescribeQuery of a missing query: %v", err)
	}

	// Tags.
	if _, err := ct.AddTags(ctx, &cloudtrail.AddTagsInput{ResourceId: aws.String(arn), TagsList: []types.Tag{{Key: aws.String("team"), Value: aws.String("sec")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := ct.ListTags(ctx, &cloudtrail.ListTagsInput{ResourceIdList: []string{arn}})
	if err != nil || len(tags.ResourceTagList) != 1 || len(tags.ResourceTagList[0].TagsList) != 1 {
		t.Fatalf("ListTags: %v %+v", err, tags)
	}
	if _, err := ct.RemoveTags(ctx, &cloudtrail.RemoveTagsInput{ResourceId: aws.String(arn), TagsList: []types.Tag{{Key: aws.String("team")}}}); err != nil {
		t.Fatal(err)
	}

	// Stopped ingestion: calls made meanwhile never enter the store.
	if _, err := ct.StartEventDataStoreIngestion(ctx, &cloudtrail.StartEventDataStoreIngestionInput{EventDataStore: aws.String(arn)}); errorCode(err) != "InvalidEventDataStoreStatusException" {
		t.Errorf("StartEventDataStoreIngestion of an enabled store: %v", err)
	}
	if _, err := ct.StopEventDataStoreIngestion(ctx, &cloudtrail.StopEventDataStoreIngestionInput{EventDataStore: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if g, _ := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(arn)}); g.Status != types.EventDataStoreStatusStoppedIngestion {
		t.Errorf("status after stop: %s", g.Status)
	}
	for range 3 {
		ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("none")})
	}
	if _, err := ct.StartEventDataStoreIngestion(ctx, &cloudtrail.StartEventDataStoreIngestionInput{EventDataStore: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	ct.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String("none")})
	if n := lookupCounts(t, ct, "GetEventSelectors")["GetEventSelectors"]; n != 4 {
		t.Fatalf("event history has %d GetEventSelectors calls, want 4", n)
	}
	sel := fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'GetEventSelectors' GROUP BY eventName`, id)
	waitUntil(t, 15*time.Second, "the call after StartEventDataStoreIngestion is in the store", func() bool {
		return counts(t, ct, sel)["GetEventSelectors"] >= 1
	})
	time.Sleep(1500 * time.Millisecond)
	if n := counts(t, ct, sel)["GetEventSelectors"]; n != 1 {
		t.Errorf("the store has %d GetEventSelectors calls, want 1 (3 were made while ingestion was stopped)", n)
	}

	// Termination protection, pending deletion, restore.
	if _, err := ct.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(arn)}); errorCode(err) != "EventDataStoreTerminationProtectedException" {
		t.Errorf("DeleteEventDataStore of a protected store: %v", err)
	}
	if _, err := ct.UpdateEventDataStore(ctx, &cloudtrail.UpdateEventDataStoreInput{EventDataStore: aws.String(arn), TerminationProtectionEnabled: aws.Bool(false), RetentionPeriod: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if g, _ := ct.GetEventDataStore(ctx, &cloudtrail.GetEventDataStoreInput{EventDataStore: aws.String(arn)}); g.Status != types.EventDataStoreStatusPendingDeletion || aws.ToInt32(g.RetentionPeriod) != 90 {
		t.Errorf("after delete: %s, retention %d", g.Status, aws.ToInt32(g.RetentionPeriod))
	}
	if _, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String("SELECT eventName FROM " + id)}); errorCode(err) != "InvalidQueryStatementException" {
		t.Errorf("query of a store pending deletion: %v", err)
	}
	if _, err := ct.ListQueries(ctx, &cloudtrail.ListQueriesInput{EventDataStore: aws.String(arn)}); errorCode(err) != "InactiveEventDataStoreException" {
		t.Errorf("ListQueries of a store pending deletion: %v", err)
	}
	if _, err := ct.UpdateEventDataStore(ctx, &cloudtrail.UpdateEventDataStoreInput{EventDataStore: aws.String(arn), Name: aws.String("x-1")}); errorCode(err) != "InvalidEventDataStoreStatusException" {
		t.Errorf("update of a store pending deletion: %v", err)
	}
	rs, err := ct.RestoreEventDataStore(ctx, &cloudtrail.RestoreEventDataStoreInput{EventDataStore: aws.String(arn)})
	if err != nil || rs.Status != types.EventDataStoreStatusEnabled {
		t.Fatalf("RestoreEventDataStore: %v %+v", err, rs)
	}
	if _, err := ct.RestoreEventDataStore(ctx, &cloudtrail.RestoreEventDataStoreInput{EventDataStore: aws.String(arn)}); errorCode(err) != "InvalidEventDataStoreStatusException" {
		t.Errorf("restore of an enabled store: %v", err)
	}
	if g := counts(t, ct, stmt); !cmp.Equal(g, want) {
		t.Errorf("after restore the store counts %v, want %v", g, want)
	}

	// Quota: 10 stores per region, pending deletion included.
	eu := ts.cloudtrail("eu-west-1")
	for i := 2; i <= 10; i++ {
		a, _ := mustStore(t, eu, &cloudtrail.CreateEventDataStoreInput{Name: aws.String(fmt.Sprint("eds-", i)), TerminationProtectionEnabled: aws.Bool(false)})
		if i == 10 {
			if _, err := eu.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(a)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := eu.CreateEventDataStore(ctx, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("eleventh")}); errorCode(err) != "EventDataStoreMaxLimitExceededException" {
		t.Errorf("11th store: %v", err)
	}
	list, err := eu.ListEventDataStores(ctx, &cloudtrail.ListEventDataStoresInput{MaxResults: aws.Int32(4)})
	if err != nil || len(list.EventDataStores) != 4 || list.NextToken == nil {
		t.Fatalf("ListEventDataStores: %v %+v", err, list)
	}
}

// slowQuery is far too long to finish but needs little memory: a filter
// over the store joined with itself five times (60^5 rows for 60 events).
func slowQuery(id string) string {
	return fmt.Sprintf(`SELECT count(*) FROM %[1]s a, %[1]s b, %[1]s c, %[1]s d, %[1]s e
		WHERE a.eventID || b.eventID || c.eventID || d.eventID || e.eventID = 'none'`, id)
}

// lakeMemory keeps the tests' DuckDB small on a shared machine.
func lakeMemory(m *Main) { m.LakeMemoryLimit = "1GB" }

func TestLakeCancelAndConcurrency(t *testing.T) {
	ts := mustRunMain(t, lakeMemory)
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	for range 60 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	waitUntil(t, 15*time.Second, "events in the store", func() bool {
		return counts(t, ct, fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY eventName`, id))["ListTrails"] == 60
	})
	slow := slowQuery(id)
	var ids []string
	for range 10 {
		out, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(slow)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.QueryId))
	}
	if _, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(slow)}); errorCode(err) != "MaxConcurrentQueriesException" {
		t.Errorf("11th query: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, q := range ids {
		out, err := ct.CancelQuery(ctx, &cloudtrail.CancelQueryInput{QueryId: aws.String(q)})
		if err != nil || out.QueryStatus != types.QueryStatusCancelled {
			t.Fatalf("CancelQuery: %v %+v", err, out)
		}
	}
	for _, q := range ids {
		if d := waitQuery(t, ct, q); d.QueryStatus != types.QueryStatusCancelled {
			t.Errorf("query %s is %s after cancel", q, d.QueryStatus)
		}
	}
	if _, err := ct.CancelQuery(ctx, &cloudtrail.CancelQueryInput{QueryId: aws.String(ids[0])}); errorCode(err) != "InactiveQueryException" {
		t.Errorf("second cancel: %v", err)
	}
	// The slots are free again: cancelled queries really stopped.
	if _, rows := runQuery(t, ct, "SELECT count(*) AS n FROM "+id, 10); len(rows) != 1 {
		t.Errorf("rows %v", rows)
	}
}

func TestLakeQueryTimeout(t *testing.T) {
	ts := mustRunMain(t, lakeMemory, func(m *Main) { m.QueryTimeout = 500 * time.Millisecond })
	ctx := context.Background()
	ct := ts.cloudtrail("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	for range 60 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	waitUntil(t, 15*time.Second, "events in the store", func() bool {
		return counts(t, ct, fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY eventName`, id))["ListTrails"] == 60
	})
	out, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(slowQuery(id))})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitQuery(t, ct, aws.ToString(out.QueryId)); d.QueryStatus != types.QueryStatusTimedOut {
		t.Errorf("status %s, want TIMED_OUT", d.QueryStatus)
	}
}

func TestLakeChannel(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, data := ts.cloudtrail("us-east-1"), ts.cloudtraildata("us-east-1")
	mgmt, _ := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("mgmt")})
	appARN, appID := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("apps"), TerminationProtectionEnabled: aws.Bool(false),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"ActivityAuditLog"}}}}}})
	_, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("wrong"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(mgmt)}}})
	if errorCode(err) != "InvalidEventDataStoreCategoryException" {
		t.Errorf("channel to a management store: %v", err)
	}
	ch, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("app"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(appID)}}})
	if err != nil {
		t.Fatal(err)
	}
	if loc := aws.ToString(ch.Destinations[0].Location); loc != appARN {
		t.Errorf("destination %s, want the store ARN %s", loc, appARN)
	}
	ids := putEvents(t, data, aws.ToString(ch.ChannelArn), 0, 25, func(i int) (string, string) { return fmt.Sprint("user", i%3), fmt.Sprint("Op", i%2) })
	stmt := fmt.Sprintf(`SELECT eventData.eventName, count(*) FROM %s GROUP BY eventData.eventName ORDER BY 1`, appID)
	waitUntil(t, 15*time.Second, "the channel's events are in the store", func() bool {
		return cmp.Equal(counts(t, ct, stmt), map[string]int{"Op0": 13, "Op1": 12})
	})
	_, rows := runQuery(t, ct, fmt.Sprintf(`SELECT eventID, metadata.channelarn AS ch, eventCategory FROM %s WHERE eventID = '%s'`, appID, ids[0]), 10)
	if len(rows) != 1 || rows[0][1]["ch"] != aws.ToString(ch.ChannelArn) || rows[0][2]["eventCategory"] != "ActivityAuditLog" {
		t.Errorf("rows %v", rows)
	}
	// Neither event history nor the management store holds them.
	if n := lookupCounts(t, ct, "Op0")["Op0"]; n != 0 {
		t.Errorf("event history has %d channel events", n)
	}
	if _, err := ct.DeleteEventDataStore(ctx, &cloudtrail.DeleteEventDataStoreInput{EventDataStore: aws.String(appARN)}); errorCode(err) != "ChannelExistsForEDSException" {
		t.Errorf("delete of a store a channel feeds: %v", err)
	}
	if _, err := ct.StopEventDataStoreIngestion(ctx, &cloudtrail.StopEventDataStoreIngestionInput{EventDataStore: aws.String(appARN)}); errorCode(err) != "InvalidEventDataStoreCategoryException" {
		t.Errorf("stop ingestion of a channel store: %v", err)
	}
}

// mustResultsBucket creates a bucket with the policy AWS documents for saved
// query results.
func mustResultsBucket(tb testing.TB, s3c *s3.Client, bucket string) {
	tb.Helper()
	mustBucket(tb, s3c, bucket, false)
	if _, err := s3c.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(lakeBucketPolicy(bucket, testAccount))}); err != nil {
		tb.Fatal(err)
	}
}

// lakeBucketPolicy is the bucket policy AWS documents for saved query results.
func lakeBucketPolicy(bucket, account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"AWSCloudTrailLake1","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":["s3:PutObject*","s3:Abort*"],
  "Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"],
  "Condition":{"StringLike":{"aws:sourceAccount":"%[2]s","aws:sourceArn":"arn:aws:cloudtrail:us-east-1:%[2]s:eventdatastore/*"}}},
 {"Sid":"AWSCloudTrailLake2","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:GetBucketAcl",
  "Resource":"arn:aws:s3:::%[1]s",
  "Condition":{"StringLike":{"aws:sourceAccount":"%[2]s","aws:sourceArn":"arn:aws:cloudtrail:us-east-1:%[2]s:eventdatastore/*"}}}]}`, bucket, account)
}

func TestLakeSavedResults(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, s3c := ts.cloudtrail("us-east-1"), ts.s3("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	mustResultsBucket(t, s3c, "results")
	mustBucket(t, s3c, "nopolicy", false)
	for range 5 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	stmt := fmt.Sprintf(`SELECT eventName, count(*) AS n FROM %s GROUP BY eventName ORDER BY eventName`, id)
	waitUntil(t, 15*time.Second, "events in the store", func() bool { return counts(t, ct, stmt)["ListTrails"] == 5 })

	for uri, code := range map[string]string{"s3://missing-bucket/x": "S3BucketDoesNotExistException", "s3://nopolicy": "InsufficientS3BucketPolicyException"} {
		if _, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt), DeliveryS3Uri: aws.String(uri)}); errorCode(err) != code {
			t.Errorf("DeliveryS3Uri %s: %v, want %s", uri, err, code)
		}
	}
	out, err := ct.StartQuery(ctx, &cloudtrail.StartQueryInput{QueryStatement: aws.String(stmt), DeliveryS3Uri: aws.String("s3://results/saved")})
	if err != nil {
		t.Fatal(err)
	}
	qid := aws.ToString(out.QueryId)
	d := waitQuery(t, ct, qid)
	if d.QueryStatus != types.QueryStatusFinished || d.DeliveryStatus != types.DeliveryStatusSuccess || aws.ToString(d.DeliveryS3Uri) != "s3://results/saved" {
		t.Fatalf("DescribeQuery: %s %s %s", d.QueryStatus, d.DeliveryStatus, aws.ToString(d.ErrorMessage))
	}
	res, err := ct.GetQueryResults(ctx, &cloudtrail.GetQueryResultsInput{QueryId: aws.String(qid)})
	if err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("saved/AWSLogs/%s/CloudTrail-Lake/Query/%s/%s/", testAccount, d.QueryStatistics.CreationTime.UTC().Format("2006/01/02"), qid)
	get := func(key string) []byte {
		o, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("results"), Key: aws.String(dir + key)})
		if err != nil {
			t.Fatalf("get %s: %v", dir+key, err)
		}
		defer o.Body.Close()
		b, _ := io.ReadAll(o.Body)
		return b
	}
	gz := get("result_1.csv.gz")
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantRecs := [][]string{{"eventName", "n"}}
	for _, r := range res.QueryResultRows {
		wantRecs = append(wantRecs, []string{r[0]["eventName"], r[1]["n"]})
	}
	if diff := cmp.Diff(wantRecs, recs); diff != "" {
		t.Errorf("saved CSV differs from GetQueryResults (-want +got):\n%s", diff)
	}

	// The sign file, verified with the region's public key.
	var sf struct {
		Version, Region, HashAlgorithm, SignatureAlgorithm, QueryCompleteTime, HashSignature, PublicKeyFingerprint string
		Files                                                                                                      []struct{ FileHashValue, FileName string }
	}
	if err := json.Unmarshal(get("result_sign.json"), &sf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(gz)
	if len(sf.Files) != 1 || sf.Files[0].FileName != "result_1.csv.gz" || sf.Files[0].FileHashValue != hex.EncodeToString(sum[:]) ||
		sf.Region != "us-east-1" || sf.HashAlgorithm != "SHA-256" || sf.SignatureAlgorithm != "SHA256withRSA" {
		t.Fatalf("sign file %+v", sf)
	}
	if _, err := time.Parse(time.RFC3339, sf.QueryCompleteTime); err != nil {
		t.Errorf("queryCompleteTime: %v", err)
	}
	keys, err := ct.ListPublicKeys(ctx, &cloudtrail.ListPublicKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	var verified bool
	for _, k := range keys.PublicKeyList {
		if aws.ToString(k.Fingerprint) != sf.PublicKeyFingerprint {
			continue
		}
		pub, err := x509.ParsePKCS1PublicKey(k.Value)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := hex.DecodeString(sf.HashSignature)
		signed := sha256.Sum256([]byte(sf.Files[0].FileHashValue))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, signed[:], sig); err != nil {
			t.Fatalf("sign file signature: %v", err)
		}
		verified = true
	}
	if !verified {
		t.Fatalf("no public key has fingerprint %s", sf.PublicKeyFingerprint)
	}
}

func TestLakeAWSCLI(t *testing.T) {
	ts := mustRunMain(t)
	var created struct{ EventDataStoreArn, Status string }
	ts.awsCLI(t, "us-east-1", &created, false, "cloudtrail", "create-event-data-store", "--name", "cli-store", "--retention-period", "30")
	if created.Status != "CREATED" {
		t.Fatalf("create-event-data-store: %+v", created)
	}
	id := created.EventDataStoreArn[strings.LastIndex(created.EventDataStoreArn, "/")+1:]
	for range 3 {
		ts.awsCLI(t, "us-east-1", nil, false, "cloudtrail", "list-trails")
	}
	stmt := fmt.Sprintf(`SELECT eventName, count(*) AS n FROM %s WHERE eventName = 'ListTrails' GROUP BY eventName`, id)
	var result struct {
		QueryStatus     string
		QueryResultRows [][]map[string]string
	}
	waitUntil(t, 20*time.Second, "the CLI's calls are in the store", func() bool {
		var started struct{ QueryId string }
		ts.awsCLI(t, "us-east-1", &started, false, "cloudtrail", "start-query", "--query-statement", stmt)
		var desc struct{ QueryStatus string }
		for desc.QueryStatus == "" || desc.QueryStatus == "QUEUED" || desc.QueryStatus == "RUNNING" {
			ts.awsCLI(t, "us-east-1", &desc, false, "cloudtrail", "describe-query", "--query-id", started.QueryId)
		}
		ts.awsCLI(t, "us-east-1", &result, false, "cloudtrail", "get-query-results", "--query-id", started.QueryId)
		return len(result.QueryResultRows) == 1 && result.QueryResultRows[0][1]["n"] == "3"
	})
	if result.QueryStatus != "FINISHED" || result.QueryResultRows[0][0]["eventName"] != "ListTrails" {
		t.Errorf("get-query-results: %+v", result)
	}
	msg := ts.awsCLI(t, "us-east-1", nil, true, "cloudtrail", "start-query", "--query-statement", "DELETE FROM "+id)
	if !strings.Contains(msg, "InvalidQueryStatementException") {
		t.Errorf("start-query with DELETE: %s", msg)
	}
}

// Events leave a store when their eventTime leaves its retention period,
// and a restart neither loses nor duplicates what the store holds.
func TestLakeRetentionAndRestart(t *testing.T) {
	dir := t.TempDir()
	ts := mustRunMain(t, func(m *Main) { m.DataDir, m.RetentionEvery = dir, 300*time.Millisecond })
	ctx := context.Background()
	ct, data := ts.cloudtrail("us-east-1"), ts.cloudtraildata("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("apps"), RetentionPeriod: aws.Int32(7),
		AdvancedEventSelectors: []types.AdvancedEventSelector{{FieldSelectors: []types.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"ActivityAuditLog"}}}}}})
	ch, err := ct.CreateChannel(ctx, &cloudtrail.CreateChannelInput{Name: aws.String("app"), Source: aws.String("Custom"),
		Destinations: []types.Destination{{Type: types.DestinationTypeEventDataStore, Location: aws.String(id)}}})
	if err != nil {
		t.Fatal(err)
	}
	var evs []dtypes.AuditEvent
	for i, age := range []time.Duration{0, time.Hour, 6 * 24 * time.Hour, 8 * 24 * time.Hour, 30 * 24 * time.Hour} {
		evs = append(evs, dtypes.AuditEvent{Id: aws.String(fmt.Sprint("e", i)), EventData: aws.String(appEvent("u", fmt.Sprint("Age", i), time.Now().Add(-age), i))})
	}
	put, err := data.PutAuditEvents(ctx, &cloudtraildata.PutAuditEventsInput{ChannelArn: ch.ChannelArn, AuditEvents: evs})
	if err != nil || len(put.Failed) != 0 {
		t.Fatalf("PutAuditEvents: %v %+v", err, put)
	}
	stmt := fmt.Sprintf(`SELECT eventData.eventName, count(*) FROM %s GROUP BY 1`, id)
	want := map[string]int{"Age0": 1, "Age1": 1, "Age2": 1}
	waitUntil(t, 15*time.Second, "only events inside the retention stay", func() bool { return cmp.Equal(counts(t, ct, stmt), want) })

	for range 4 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	_, mgmt := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("mgmt")})
	for range 4 {
		ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	mstmt := fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY 1`, mgmt)
	waitUntil(t, 15*time.Second, "calls after the store's creation are in it", func() bool { return counts(t, ct, mstmt)["ListTrails"] == 4 })
	time.Sleep(1500 * time.Millisecond) // the checkpoints move on a quiet journal
	if err := ts.m.Close(); err != nil {
		t.Fatal(err)
	}

	ts2 := mustRunMain(t, func(m *Main) { m.DataDir = dir })
	ct2 := ts2.cloudtrail("us-east-1")
	for range 2 {
		ct2.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	waitUntil(t, 15*time.Second, "calls after the restart are in the store", func() bool { return counts(t, ct2, mstmt)["ListTrails"] >= 6 })
	time.Sleep(1500 * time.Millisecond)
	if n := counts(t, ct2, mstmt)["ListTrails"]; n != 6 {
		t.Errorf("after a restart the store has %d ListTrails calls, want 6", n)
	}
	if got := counts(t, ct2, stmt); !cmp.Equal(got, want) {
		t.Errorf("after a restart the channel store counts %v, want %v", got, want)
	}
}

// A multi-region store takes the account's calls in every region; a
// single-region store only its own region's.
func TestLakeMultiRegion(t *testing.T) {
	ts := mustRunMain(t)
	ctx := context.Background()
	ct, eu := ts.cloudtrail("us-east-1"), ts.cloudtrail("eu-west-1")
	_, multi := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("multi")})
	_, single := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("single"), MultiRegionEnabled: aws.Bool(false)})
	for range 3 {
		eu.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	}
	ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{})
	q := `SELECT awsRegion, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY awsRegion`
	waitUntil(t, 15*time.Second, "the multi-region store has both regions' calls", func() bool {
		return cmp.Equal(counts(t, ct, fmt.Sprintf(q, multi)), map[string]int{"us-east-1": 1, "eu-west-1": 3})
	})
	// The region's own call comes after the others: once it is in, the
	// others were judged.
	var got map[string]int
	waitUntil(t, 15*time.Second, "the single-region store has its region's call", func() bool {
		got = counts(t, ct, fmt.Sprintf(q, single))
		return got["us-east-1"] == 1
	})
	if !cmp.Equal(got, map[string]int{"us-east-1": 1}) {
		t.Errorf("single-region store: %v", got)
	}
}

// A crash loses and duplicates nothing: after SIGKILL and a restart the
// store holds exactly the calls event history holds.
func TestLakeCrash(t *testing.T) {
	dir := t.TempDir()
	s := spawn(t, dir)
	ctx := context.Background()
	ct := s.server().cloudtrail("us-east-1")
	_, id := mustStore(t, ct, &cloudtrail.CreateEventDataStoreInput{Name: aws.String("main")})
	for range 40 {
		if _, err := ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	s.kill(t)
	s = spawn(t, dir)
	ct = s.server().cloudtrail("us-east-1")
	for range 5 {
		if _, err := ct.ListTrails(ctx, &cloudtrail.ListTrailsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	want := lookupCounts(t, ct, "ListTrails")["ListTrails"]
	if want != 45 {
		t.Fatalf("event history has %d ListTrails calls, want 45", want)
	}
	stmt := fmt.Sprintf(`SELECT eventName, count(*) FROM %s WHERE eventName = 'ListTrails' GROUP BY 1`, id)
	waitUntil(t, 20*time.Second, "the store catches up", func() bool { return counts(t, ct, stmt)["ListTrails"] >= want })
	time.Sleep(1500 * time.Millisecond)
	if n := counts(t, ct, stmt)["ListTrails"]; n != want {
		t.Errorf("the store has %d ListTrails calls, event history %d", n, want)
	}
	s.stop(t)
}
